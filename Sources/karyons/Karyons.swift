import ArgumentParser

/// The `karyons` command-line tool: `karyons sim` runs many nodes on the deterministic virtual
/// network; `karyons node` runs one real node on the epoll reactor.
@main
struct Karyons: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "karyons",
        abstract: "Karyons p2p stack tools.",
        subcommands: [SimCommand.self, NodeCommand.self]
    )

    static func main() async {
        HugePageHeap.rerunIfUseful()
        await main(nil)
    }
}
