import KaryonsCore

/// A small SVG writer for line charts: panels stacked vertically, sharing the x axis, each with its
/// own y axis, grid, legend and one or more series. Text is escaped; numbers are formatted without
/// Foundation. Enough for the simulator's metrics over virtual time, nothing more.
public struct SVGChart: Sendable {
    /// One line of a panel.
    public struct Series: Sendable {
        public var name: String
        public var color: String
        public var points: [(x: Double, y: Double)]
        /// Drawn dashed (to tell apart lines that may lie on top of each other).
        public var isDashed: Bool

        public init(name: String, color: String, points: [(x: Double, y: Double)], isDashed: Bool = false) {
            self.name = name
            self.color = color
            self.points = points
            self.isDashed = isDashed
        }
    }

    /// One chart of the stack.
    public struct Panel: Sendable {
        public var title: String
        public var series: [Series]
        /// Fixed y range; nil fits the data (from 0).
        public var yRange: ClosedRange<Double>?
        /// Formats y tick labels.
        public var yLabel: @Sendable (Double) -> String
        /// Y ticks at whole numbers only (counts).
        public var hasIntegerTicks: Bool

        public init(title: String, series: [Series], yRange: ClosedRange<Double>? = nil, hasIntegerTicks: Bool = false,
                    yLabel: @escaping @Sendable (Double) -> String = { fixedTrimmed($0) }) {
            self.title = title
            self.series = series
            self.yRange = yRange
            self.hasIntegerTicks = hasIntegerTicks
            self.yLabel = yLabel
        }
    }

    public var title: String
    public var panels: [Panel] = []
    /// Formats x tick labels.
    public var xLabel: @Sendable (Double) -> String
    /// Candidate x tick steps, smallest first (nil: 1-2-5 steps); the first giving at most about
    /// eight ticks is used.
    public var xSteps: [Double]?
    /// The x axis starts here (nil: at the smallest x).
    public var xStart: Double?
    /// Shaded x intervals drawn on every panel (partitions), with a label.
    public var bands: [(from: Double, to: Double, label: String)] = []
    public var width = 960.0
    public var panelHeight = 170.0

    private let marginLeft = 70.0, marginRight = 170.0, panelGap = 46.0, top = 64.0, bottom = 40.0

    public init(title: String, xLabel: @escaping @Sendable (Double) -> String) {
        self.title = title
        self.xLabel = xLabel
    }

    /// The SVG document.
    public func render() -> String {
        let height = top + Double(panels.count) * (panelHeight + panelGap) + bottom
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(num(width))\" height=\"\(num(height))\" "
            + "viewBox=\"0 0 \(num(width)) \(num(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        svg += text(title, x: marginLeft, y: 28, size: 16, weight: "bold")
        let xs = panels.flatMap { $0.series.flatMap { $0.points.map(\.x) } }
        let xLow = xStart ?? xs.min() ?? 0
        let xRange = xLow...max(xs.max() ?? 1, xLow + 1e-9)
        for (index, panel) in panels.enumerated() {
            svg += render(panel, top: top + Double(index) * (panelHeight + panelGap), xRange: xRange)
        }
        svg += "</svg>\n"
        return svg
    }

    private func render(_ panel: Panel, top panelTop: Double, xRange: ClosedRange<Double>) -> String {
        let plotWidth = width - marginLeft - marginRight
        let ys = panel.series.flatMap { $0.points.map(\.y) }.filter(\.isFinite)
        let yRange = panel.yRange ?? 0...max(niceCeiling(ys.max() ?? 1), 1e-9)
        func px(_ x: Double) -> Double { marginLeft + (x - xRange.lowerBound) / (xRange.upperBound - xRange.lowerBound) * plotWidth }
        func py(_ y: Double) -> Double {
            panelTop + panelHeight - (min(max(y, yRange.lowerBound), yRange.upperBound) - yRange.lowerBound)
                / (yRange.upperBound - yRange.lowerBound) * panelHeight
        }
        var svg = text(panel.title, x: marginLeft, y: panelTop - 8, size: 13, weight: "bold")
        for band in bands {
            let from = px(max(band.from, xRange.lowerBound)), to = px(min(band.to, xRange.upperBound))
            guard to > from else { continue }
            svg += "<rect x=\"\(num(from))\" y=\"\(num(panelTop))\" width=\"\(num(to - from))\" height=\"\(num(panelHeight))\" "
                + "fill=\"#fbe3c0\" fill-opacity=\"0.6\"/>\n"
            svg += text(band.label, x: from + 4, y: panelTop + panelHeight - 6, size: 10)
        }
        svg += "<rect x=\"\(num(marginLeft))\" y=\"\(num(panelTop))\" width=\"\(num(plotWidth))\" height=\"\(num(panelHeight))\" "
            + "fill=\"none\" stroke=\"#999\"/>\n"
        for tick in ticks(yRange, integral: panel.hasIntegerTicks) {
            svg += line(x1: marginLeft, y1: py(tick), x2: marginLeft + plotWidth, y2: py(tick), color: "#e4e4e4")
            svg += text(panel.yLabel(tick), x: marginLeft - 6, y: py(tick) + 4, anchor: "end")
        }
        for tick in ticks(xRange, steps: xSteps) {
            svg += line(x1: px(tick), y1: panelTop, x2: px(tick), y2: panelTop + panelHeight, color: "#f0f0f0")
            svg += text(xLabel(tick), x: px(tick), y: panelTop + panelHeight + 15, anchor: "middle")
        }
        for (index, series) in panel.series.enumerated() {
            let points = series.points.filter { $0.y.isFinite }.map { "\(num(px($0.x))),\(num(py($0.y)))" }
            if !points.isEmpty {
                let dash = series.isDashed ? " stroke-dasharray=\"6 4\"" : ""
                svg += "<polyline fill=\"none\" stroke=\"\(escape(series.color))\" stroke-width=\"1.8\"\(dash) points=\"\(points.joined(separator: " "))\"/>\n"
            }
            let legendY = panelTop + 14 + Double(index) * 18
            svg += line(x1: width - marginRight + 12, y1: legendY - 4, x2: width - marginRight + 32, y2: legendY - 4, color: series.color, width: 3)
            svg += text(series.name, x: width - marginRight + 38, y: legendY)
        }
        return svg
    }

    /// About five round tick values across `range` (whole numbers if `integral`; from `steps` if given).
    private func ticks(_ range: ClosedRange<Double>, integral: Bool = false, steps: [Double]? = nil) -> [Double] {
        let span = range.upperBound - range.lowerBound
        guard span > 0 else { return [range.lowerBound] }
        var step = niceStep(span / 5)
        if let steps { step = steps.first { span / $0 <= 8 } ?? step }
        if integral { step = max(1, step.rounded(.up)) }
        var tick = (range.lowerBound / step).rounded(.up) * step
        var result: [Double] = []
        while tick <= range.upperBound + step * 1e-9 && result.count < 50 {
            result.append(tick)
            tick += step
        }
        return result
    }

    private func niceStep(_ rough: Double) -> Double {
        var magnitude = 1.0
        while magnitude * 10 <= rough { magnitude *= 10 }
        while magnitude > rough { magnitude /= 10 }
        let fraction = rough / magnitude
        let nice: Double = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10
        return nice * magnitude
    }

    private func niceCeiling(_ value: Double) -> Double {
        guard value > 0 else { return 1 }
        let step = niceStep(value / 5)
        return (value / step).rounded(.up) * step
    }

    private func line(x1: Double, y1: Double, x2: Double, y2: Double, color: String, width: Double = 1) -> String {
        "<line x1=\"\(num(x1))\" y1=\"\(num(y1))\" x2=\"\(num(x2))\" y2=\"\(num(y2))\" stroke=\"\(escape(color))\" stroke-width=\"\(num(width))\"/>\n"
    }

    private func text(_ content: String, x: Double, y: Double, size: Int = 12, weight: String = "normal", anchor: String = "start") -> String {
        "<text x=\"\(num(x))\" y=\"\(num(y))\" font-size=\"\(size)\" font-weight=\"\(weight)\" text-anchor=\"\(anchor)\">\(escape(content))</text>\n"
    }

    private func num(_ value: Double) -> String { fixed(value, 1) }

    private func escape(_ text: String) -> String {
        var result = ""
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            default: result.append(character)
            }
        }
        return result
    }
}

/// `value` with up to two decimals, trailing zeros dropped.
public func fixedTrimmed(_ value: Double) -> String {
    var text = fixed(value, 2)
    while text.contains("."), text.hasSuffix("0") { text.removeLast() }
    if text.hasSuffix(".") { text.removeLast() }
    return text
}

extension SimulationReport {
    /// The metrics over virtual time as an SVG chart: table fill, slot fill and success rates,
    /// peer-graph components, nodes up, and frames sent per second.
    public func svgChart() -> String {
        var chart = SVGChart(title: "karyons sim — \(nodes) nodes, seed \(options.seed), digest \(digestHex)") { seconds in
            SimulationOptions.format(Duration(seconds: seconds))
        }
        chart.xStart = 0
        chart.bands = options.partitions.map { partition in
            (Duration(nanoseconds: partition.start.nanoseconds).seconds, Duration(nanoseconds: partition.end.nanoseconds).seconds,
             "partition \(SimulationOptions.format(partition))")
        }
        chart.xSteps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1_800, 3_600, 7_200, 14_400, 43_200, 86_400]
        chart.panels = SVGChart.metricsPanels(samples, timeAxis: "virtual")
        return chart.render()
    }
}

extension SVGChart {
    /// The panels of a run's metrics over time, shared by the virtual and the real run's charts:
    /// table fill, slot fill and success rates, peer-graph components, nodes up, and frames sent
    /// per second of `timeAxis` ("virtual" or "wall") time.
    public static func metricsPanels(_ samples: [MetricsSample], timeAxis: String) -> [Panel] {
        func seconds(_ instant: Instant) -> Double { Duration(nanoseconds: instant.nanoseconds).seconds }
        func series(_ name: String, _ color: String, isDashed: Bool = false, _ metric: (MetricsSample) -> Double?) -> Series {
            Series(name: name, color: color, points: samples.compactMap { sample in
                metric(sample).map { (seconds(sample.time), $0) }
            }, isDashed: isDashed)
        }
        var framePoints: [(x: Double, y: Double)] = []
        for (previous, sample) in zip(samples, samples.dropFirst()) where sample.time > previous.time {
            let interval = seconds(sample.time) - seconds(previous.time)
            framePoints.append((seconds(sample.time), Double(sample.framesSent - previous.framesSent) / interval))
        }
        let percentLabel: @Sendable (Double) -> String = { "\(Int(($0 * 100).rounded()))%" }
        return [
            .init(title: "routing table per node", series: [
                series("entries", "#1f77b4", { $0.routingTableEntriesMean }),
                series("verified", "#2ca02c", { $0.verifiedEntriesMean }),
            ]),
            .init(title: "slots and success rates", series: [
                series("outbound slots", "#ff7f0e", { $0.outboundSlotFillMean }),
                series("inbound slots", "#9467bd", isDashed: true, { $0.inboundSlotFillMean }),
                series("lookups ok", "#d62728", { $0.intervalLookupSuccessRate }),
                series("largest component", "#17becf", { $0.largestComponentShare }),
            ], yRange: 0...1, yLabel: percentLabel),
            .init(title: "peer-graph components", series: [series("components", "#8c564b", { Double($0.components) })],
                  hasIntegerTicks: true),
            .init(title: "nodes up", series: [series("nodes up", "#7f7f7f", { Double($0.nodesUp) })], hasIntegerTicks: true),
            .init(title: "frames sent per \(timeAxis) second", series: [Series(name: "frames/s", color: "#e377c2", points: framePoints)]),
        ]
    }
}
