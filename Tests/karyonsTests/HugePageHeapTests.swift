import Testing

@testable import karyons

/// When `karyons` runs itself again with glibc's huge-page tunables (`HugePageHeap`).
@Suite struct HugePageHeapTests {
    let madvise = "always [madvise] never\n"

    func rerun(_ arguments: [String], _ variables: [String: String] = [:], mode: String?) -> Bool {
        HugePageHeap.shouldRerun(arguments: ["/usr/bin/karyons"] + arguments, environment: { variables[$0] }, mode: mode)
    }

    @Test func aSimulationRunsAgainWhenTheKernelGivesHugePages() {
        #expect(rerun(["sim", "--nodes", "10000"], mode: madvise))
        #expect(rerun(["sim"], mode: "[always] madvise never"))
    }

    @Test func otherCommandsDoNot() {
        #expect(!rerun([], mode: madvise))
        #expect(!rerun(["node", "--seed", "tcp://10.0.0.1:7000"], mode: madvise))
        #expect(!rerun(["--help"], mode: madvise))
    }

    @Test func theKernelsModeDecides() {
        #expect(!rerun(["sim"], mode: "always madvise [never]"))
        #expect(!rerun(["sim"], mode: nil), "no THP file: no huge pages")
    }

    @Test func aChoiceAlreadyMadeIsKept() {
        #expect(!rerun(["sim"], ["KARYONS_HUGE_PAGES": "0"], mode: madvise), "turned off by the user")
        #expect(!rerun(["sim"], ["KARYONS_HUGE_PAGES": "1"], mode: madvise), "this is the re-run: once only")
        #expect(!rerun(["sim"], ["GLIBC_TUNABLES": "glibc.malloc.arena_max=2"], mode: madvise), "the user's own tunables")
    }

    @Test func theTunablesAskForOneArenaOnHugePagesGrownInWholeHugePages() {
        let settings = Dictionary(uniqueKeysWithValues: HugePageHeap.tunables.split(separator: ":").map { pair in
            let parts = pair.split(separator: "=")
            return (String(parts[0]), Int(parts[1]) ?? -1)
        })
        #expect(settings["glibc.malloc.hugetlb"] == 1)
        #expect(settings["glibc.malloc.arena_max"] == 1)
        let topPad = settings["glibc.malloc.top_pad"] ?? 0
        #expect(topPad >= 2 << 20 && topPad % (2 << 20) == 0)
    }

    @Test func procFieldsAreReadInBytes() {
        let status = "Name:\tkaryons\nVmPeak:\t  1048576 kB\nVmHWM:\t    20480 kB\nThreads:\t2\n"
        #expect(SystemResources.kibibytes(field: "VmHWM", in: status) == 20_971_520)
        #expect(SystemResources.kibibytes(field: "VmPeak", in: status) == 1_073_741_824)
        #expect(SystemResources.kibibytes(field: "Threads", in: status) == nil, "not in kB")
        #expect(SystemResources.kibibytes(field: "VmRSS", in: status) == nil, "absent")
        #expect(SystemResources.kibibytes(field: "AnonHugePages", in: "AnonHugePages:         0 kB\n") == 0)
    }

    @Test func thisProgramsPeakResidentSetIsReadFromTheKernel() {
        let peak = SystemResources.maxResidentBytes()
        #expect(peak != nil && peak! > 1 << 20, "a test process holds more than a mebibyte")
        let later = SystemResources.readSmallFile("/proc/self/status").flatMap { SystemResources.kibibytes(field: "VmHWM", in: $0) }
        // Other tests allocate and free meanwhile, and the kernel counts resident pages per CPU in
        // batches, so a later read of the high-water mark may fall short by a few hundred KiB.
        let countingSlack = 1 << 20
        #expect(later != nil && later! >= peak! - countingSlack, "the kernel's high-water mark")
    }

    @Test func thisProcesssHugePagesAreReadable() {
        // The kernel reports AnonHugePages in /proc/self/smaps_rollup (Linux 4.14+); 0 is fine.
        let bytes = HugePageHeap.hugePageBytes()
        #expect(bytes != nil && bytes! >= 0)
    }
}
