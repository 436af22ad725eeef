package dbcheck

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Damage is one thing wrong in the file.
type Damage struct {
	// Bucket is a bucket of the layout ("entries", "hashes", "meta", ...)
	// or "file" for the bbolt structure itself.
	Bucket string
	// Key is the record's key, readable: an index or size in decimal, a
	// certificate fingerprint in hex, "author message-id", "package@index",
	// "size/cosigner", or a meta key.
	Key string
	// Problem says what is wrong.
	Problem string
}

func (d Damage) String() string {
	if d.Key == "" {
		return d.Bucket + ": " + d.Problem
	}
	return d.Bucket + " " + d.Key + ": " + d.Problem
}

// MaxPerBucket bounds the damage listed per bucket; the rest is counted
// in Report.Omitted. One altered entry invalidates every later checkpoint
// root, so a list without a bound could run to millions of lines.
const MaxPerBucket = 100

// Report is the outcome of a check.
type Report struct {
	Entries          uint64
	Nodes            int
	Checkpoints      int
	LatestCheckpoint uint64
	Cosignatures     int
	Certs            int
	MsgIDs           int
	Packages         int
	Agreements       int
	Damage           []Damage
	// Omitted counts, per bucket, damage found beyond MaxPerBucket.
	Omitted map[string]int
}

// OK reports whether no damage was found.
func (r *Report) OK() bool { return len(r.Damage) == 0 }

// Problems is the number of damaged records found, listed or not.
func (r *Report) Problems() int {
	n := len(r.Damage)
	for _, m := range r.Omitted {
		n += m
	}
	return n
}

// Has reports whether some listed damage is in bucket (a prefix match:
// "nodes" matches every level) and mentions problem.
func (r *Report) Has(bucket, problem string) bool {
	for _, d := range r.Damage {
		if strings.HasPrefix(d.Bucket, bucket) && strings.Contains(d.Problem, problem) {
			return true
		}
	}
	return false
}

// Summary is the one line that describes a clean database.
func (r *Report) Summary() string {
	return fmt.Sprintf("%d entries, %d tree nodes, %d checkpoints (latest of size %d), %d cosignatures, %d certificates, %d message ids, %d package index records, %d agreements",
		r.Entries, r.Nodes, r.Checkpoints, r.LatestCheckpoint, r.Cosignatures, r.Certs, r.MsgIDs, r.Packages, r.Agreements)
}

// Main is `server --verify-db FILE`: it prints every damage as it is
// found, then a summary line, and returns the exit status (0 clean, 1
// damaged or unreadable).
func Main(path string, stdout, stderr io.Writer) int {
	rep, err := Check(path, Options{OnDamage: func(d Damage) { fmt.Fprintf(stdout, "damage: %s\n", d) }})
	if err != nil {
		fmt.Fprintf(stderr, "verify-db: %v\n", err)
		return 1
	}
	buckets := make([]string, 0, len(rep.Omitted))
	for b := range rep.Omitted {
		buckets = append(buckets, b)
	}
	slices.Sort(buckets)
	for _, b := range buckets {
		fmt.Fprintf(stdout, "damage: %s: %d more damaged records not listed\n", b, rep.Omitted[b])
	}
	if !rep.OK() {
		n, noun := rep.Problems(), "problems"
		if n == 1 {
			noun = "problem"
		}
		fmt.Fprintf(stdout, "verify-db: %s is DAMAGED: %d %s\n", path, n, noun)
		return 1
	}
	fmt.Fprintf(stdout, "verify-db: %s OK: %s\n", path, rep.Summary())
	return 0
}
