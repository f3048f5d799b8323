import ArgumentParser

/// The `karyons` command-line tool: `karyons sim` runs many nodes on the deterministic virtual
/// network (`karyons node` and `karyons bench` come with the reactor driver).
@main
struct Karyons: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "karyons",
        abstract: "Karyons p2p stack tools.",
        subcommands: [SimCommand.self]
    )
}
