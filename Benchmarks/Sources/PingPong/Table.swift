/// Renders comparison cells as a fixed-width text table or a Markdown table.
///
/// Columns: workload, implementation, median round trips/s, min – max over the runs, the number of
/// runs, then one ratio column per baseline (median of this implementation ÷ median of the
/// baseline, on the same workload), then notes (UDP recoveries, failures).
public enum Table {
    /// The table for `cells` (as returned by `ComparisonRunner.run`).
    public static func render(_ cells: [ComparisonCell], ratioBaselines: [String], markdown: Bool) -> String {
        var header = ["workload", "impl", "median rt/s", "min – max rt/s", "runs"]
        header += ratioBaselines.map { "X/\($0)" }
        header.append("notes")
        var rows: [[String]] = []
        var previousWorkload: String?
        for cell in cells {
            let baselineMedians = ratioBaselines.map { name in
                cells.first { $0.workload == cell.workload && $0.implementation == name }?.median
            }
            var row = [cell.workload.name == previousWorkload && !markdown ? "" : cell.workload.name, cell.implementation]
            row += summary(of: cell)
            row += baselineMedians.map { baseline in ratio(cell.median, baseline) }
            row.append(notes(of: cell))
            rows.append(row)
            previousWorkload = cell.workload.name
        }
        return render(header: header, rows: rows, numericColumns: 2...(header.count - 2), markdown: markdown)
    }

    /// Any table: text columns align left, `numericColumns` right; the last column is never padded.
    public static func render(header: [String], rows: [[String]], numericColumns: ClosedRange<Int>, markdown: Bool) -> String {
        markdown
            ? renderMarkdown(header: header, rows: rows, numericColumns: numericColumns)
            : renderText(header: header, rows: rows, numericColumns: numericColumns)
    }

    /// A rate with three significant digits and a k/M suffix: `12.8 k`, `1.23 M`.
    public static func rate(_ value: Double) -> String {
        switch value {
        case 1e6...: return significant(value / 1e6) + " M"
        case 1e3...: return significant(value / 1e3) + " k"
        default: return significant(value)
        }
    }

    /// A ratio with two decimals, or "–" when either side is missing.
    public static func ratio(_ value: Double?, _ baseline: Double?) -> String {
        guard let value, let baseline, baseline > 0 else { return "–" }
        return fixed(value / baseline, decimals: 2)
    }

    /// `value` (>= 0) with three significant digits for values below 1000.
    static func significant(_ value: Double) -> String {
        switch value {
        case 100...: return fixed(value, decimals: 0)
        case 10...: return fixed(value, decimals: 1)
        default: return fixed(value, decimals: 2)
        }
    }

    /// `value` rounded to `decimals` places, without Foundation.
    public static func fixed(_ value: Double, decimals: Int) -> String {
        guard value.isFinite else { return "–" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = Int((abs(value) * scale).rounded())
        let sign = value < 0 && scaled != 0 ? "-" : ""
        let whole = scaled / Int(scale)
        guard decimals > 0 else { return sign + String(whole) }
        let fraction = String(scaled % Int(scale))
        return sign + String(whole) + "." + String(repeating: "0", count: decimals - fraction.count) + fraction
    }

    private static func summary(of cell: ComparisonCell) -> [String] {
        guard cell.supported else { return ["n/a", "", ""] }
        guard let median = cell.median, let low = cell.rates.min(), let high = cell.rates.max() else {
            return ["failed", "", String(cell.rates.count)]
        }
        return [rate(median), rate(low) + " – " + rate(high), String(cell.rates.count)]
    }

    private static func notes(of cell: ComparisonCell) -> String {
        var notes: [String] = []
        if cell.recoveries > 0 { notes.append("\(cell.recoveries) window recover\(cell.recoveries == 1 ? "y" : "ies")") }
        if let failure = cell.failure { notes.append(failure) }
        return notes.joined(separator: "; ")
    }

    private static func renderText(header: [String], rows: [[String]], numericColumns: ClosedRange<Int>) -> String {
        let widths = header.indices.map { column in
            ([header] + rows).map { $0[column].count }.max() ?? 0
        }
        func line(_ fields: [String]) -> String {
            var text = ""
            for (column, field) in fields.enumerated() {
                let padding = String(repeating: " ", count: widths[column] - field.count)
                // Numbers align right, text left; the last column is never padded.
                let isNumeric = numericColumns.contains(column)
                if column == fields.count - 1 {
                    text += field
                } else {
                    text += (isNumeric ? padding + field : field + padding) + "  "
                }
            }
            while text.last == " " { text.removeLast() }
            return text
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }

    private static func renderMarkdown(header: [String], rows: [[String]], numericColumns: ClosedRange<Int>) -> String {
        let alignment = header.indices.map { column in
            numericColumns.contains(column) ? "---:" : "---"
        }
        return ([header, alignment] + rows).map { "| " + $0.joined(separator: " | ") + " |" }.joined(separator: "\n")
    }
}
