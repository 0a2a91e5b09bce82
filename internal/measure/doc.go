// Package measure is the measurement code that cmd/walbench and the bench
// module share, so that the two report the same figure for the same
// samples and the same files:
//
//   - Hist, the latency histogram: log-linear buckets in the way of
//     HdrHistogram with two significant digits; every quantile is within
//     MaxRelErr (1/256, 0.39 %) of the exact one, and the minimum and the
//     maximum are exact.
//   - DirUsage and FilesUsage, the disk-usage scan: file sizes, allocated
//     blocks, and the bytes up to the end of the last record of each file
//     (UsedToLastNonZero for formats that preallocate zero-filled files).
//   - Pattern and Payload, the payload generator: fixed pseudo-random bytes
//     with no zero byte (so the scan back to the last non-zero byte finds a
//     record's end), and records that carry their id in their first bytes
//     so that a replay can check them (CheckRecord).
//   - SVG, Axis and the tick helpers, and two ready charts (BarChart,
//     LineChart): hand-written SVG with no dependency.
//
// It imports only the standard library, and nothing of the engine: it
// measures files and durations, not mmapwal. It is not safe for concurrent
// use unless a type says so; give each goroutine its own Hist and Merge
// them.
package measure
