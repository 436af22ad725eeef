// Package report computes the monthly report of the mechanism from the
// verified log: the figures of one calendar month (UTC) and the cumulative
// figures up to its end, and a table of the packages the month touched.
//
// It is pure: it reads decoded entries a caller has verified (the client
// feeds it from the auditor, see internal/cli's verifiedEntries) and the
// agreements they carry, and holds no clock. The same entries give the same
// [Report], byte for byte once encoded, which is what `verify-report`
// relies on.
//
// Sealed bodies: the figures and the reducer run on each entry's payload
// as logged (its cleartext header); what a report or an export shows of
// the sensitive fields (locations, summaries, notes, reasons) comes from
// [Entry.Opened], the body the reader's key opened. A reader who cannot
// open a package gets its header: the same figures, no locations. So two
// readers get the same report only if they open the same bodies. The row
// of an opened package carries [Entry.Salt], derived from its package key
// (seal.ReportSalt): without it the report's published SHA-256 would let
// any reader of the log test guesses of the locations.
//
// Guarantees:
//   - One reducer: every package state, deadline and breach comes from
//     replaying the entries through workflow.Apply and from
//     workflow.BreachOf, the rules the server and the auditor run. An
//     entry the reducer refuses is an error, never skipped.
//   - The report is as of the month's end: entries received at or after it
//     are not counted, so a report of a past month stays the same however
//     far the log grows. While the log holds no entry after the month, the
//     obligations are judged as of its last entry's receive time instead
//     (Report.AsOf; Complete is false): never as of a clock.
//   - An obligation belongs to the month its deadline falls due in
//     ([start, end) in UTC). As of AsOf it was met on time (at or before
//     its due time), met late, is still open (overdue), or is pending (not
//     yet due). Cumulative figures count every obligation due before the
//     end, and every pending one.
//   - Percentiles are nearest-rank: the p-th of n sorted values is the
//     ceil(p·n)-th.
package report
