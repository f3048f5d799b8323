import ArgumentParser

/// The `karyons` command-line tool.
@main
struct Karyons: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "karyons",
        abstract: "Karyons p2p stack tools.",
        subcommands: []
    )
}
