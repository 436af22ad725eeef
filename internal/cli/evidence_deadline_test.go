package cli

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

var (
	evidenceOpen = regexp.MustCompile(`(?m)^deadline: evidence by af due \S+, open$`)
	evidenceMet  = regexp.MustCompile(`(?m)^deadline: evidence by af due \S+, met \S+$`)
)

// The evidence deadline is met only once the files are stored, under an
// agreement with evidence_needs_files (every dev agreement gen-certs
// makes): a submission of digests alone is logged but leaves it open, and
// breaches past its due time, the server's and the ones the client
// derives from the log, list it; a submission naming a file the exchange
// does not hold is refused; once the file is uploaded (evidence --file)
// the submission is logged and meets it, and breaches past the due time
// no longer list it.
func TestEvidenceDeadlineNeedsStoredFile(t *testing.T) {
	e := testenv.NewPKI(t, devpki.Options{EvidenceNeedsFiles: true})
	if out := mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "agreement", "show"); !strings.Contains(out, "\nevidence needs files: true (the evidence deadline is met only by a submission naming a stored file)\n") {
		t.Fatalf("agreement show:\n%s", out)
	}
	id := reportedPackage(t, e)
	b := []byte("film of the raid")
	d := sha(b)
	late := time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339)
	inBreach := func(when string) {
		t.Helper()
		if show := mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "show", id); !evidenceOpen.MatchString(show) {
			t.Fatalf("show %s:\n%s", when, show)
		}
		for _, args := range [][]string{{"breaches", "--as-of", late}, {"breaches", "--as-of", late, "--verify"}} {
			if br := mustCLI(t, e.Addr, e.Certs, testenv.Mediator, args...); !regexp.MustCompile(`(?m)^` + id + `\s+af\s+evidence\s`).MatchString(br) {
				t.Fatalf("%s %s:\n%s", strings.Join(args, " "), when, br)
			}
		}
	}

	out := mustCLI(t, e.Addr, e.Certs, testenv.Responder, "evidence", id, "--evidence", hex.EncodeToString(d))
	if !strings.Contains(out, "logged evidence at index ") {
		t.Fatalf("evidence --evidence: %s", out)
	}
	inBreach("after a submission of digests alone")

	af := e.Client(testenv.Responder)
	m := &mvmv1.EvidenceSubmission{Header: mvmclient.NewHeader(), PackageId: id, EvidenceSha256: [][]byte{d},
		Files: []*mvmv1.EvidenceFile{{StoredSha256: d, StoredSize: int64(len(b)), Name: "raid.mp4"}}}
	if _, err := af.Append(ctxT(t), m); err == nil || !strings.Contains(err.Error(), "is not stored on the exchange") {
		t.Fatalf("append naming a file not stored: %v, want a refusal", err)
	}
	inBreach("after a refused submission naming a file not stored")

	file := filepath.Join(t.TempDir(), "raid.mp4")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out = mustCLI(t, e.Addr, e.Certs, testenv.Responder, "evidence", id, "--file", file)
	if !strings.Contains(out, "uploaded raid.mp4") || !strings.Contains(out, "logged evidence at index ") {
		t.Fatalf("evidence --file: %s", out)
	}
	if show := mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "show", id); !evidenceMet.MatchString(show) {
		t.Fatalf("show once the file is stored and logged:\n%s", show)
	}
	for _, args := range [][]string{{"breaches", "--as-of", late}, {"breaches", "--as-of", late, "--verify"}} {
		if br := mustCLI(t, e.Addr, e.Certs, testenv.Mediator, args...); strings.Contains(br, id) {
			t.Fatalf("%s once the file is stored:\n%s", strings.Join(args, " "), br)
		}
	}
}

// TestEvidenceBreachAudited: the audit, replaying the log with the same
// reducer, counts what breaches lists. A package whose evidence deadline
// (amended down to seconds) passes after a submission of digests alone
// made in time is one breach under evidence_needs_files and none without
// it.
func TestEvidenceBreachAudited(t *testing.T) {
	// Long enough for a report and the evidence on a loaded CI host; the
	// two cases wait for it side by side.
	const deadline = 8 * time.Second
	for _, tc := range []struct {
		rule     bool
		show     *regexp.Regexp
		breaches int
	}{
		{rule: true, show: evidenceOpen, breaches: 1},
		{rule: false, show: evidenceMet, breaches: 0},
	} {
		t.Run("evidence needs files "+strconv.FormatBool(tc.rule), func(t *testing.T) {
			t.Parallel()
			e := testenv.NewPKI(t, devpki.Options{EvidenceNeedsFiles: tc.rule})
			amend(t, e, 0, func(p *mvmv1.Agreement) { p.Deadlines.Evidence = durationpb.New(deadline) })
			start := time.Now()
			id := reportedPackage(t, e)
			reported := time.Now()
			mustCLI(t, e.Addr, e.Certs, testenv.Responder, "evidence", id, "--evidence", hex.EncodeToString(sha([]byte("film"))))
			// The report was received after start: this is in time.
			if time.Since(start) >= deadline {
				t.Fatalf("the report and the evidence took %v, the deadline is %v: the test needs a longer one on this machine", time.Since(start), deadline)
			}
			if show := mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "show", id); !tc.show.MatchString(show) {
				t.Errorf("show, want %v:\n%s", tc.show, show)
			}
			// An entry after the due time: the audit's as-of is the last
			// entry's receive time.
			time.Sleep(time.Until(reported.Add(deadline + 100*time.Millisecond)))
			mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "submit", "--lat", "3", "--lon", "4")
			audit := mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "audit", "--no-cosign")
			want := regexp.MustCompile(`(?m)^packages: 2, breaches as of \S+: ` + strconv.Itoa(tc.breaches) + `$`)
			if !want.MatchString(audit) || !strings.Contains(audit, "\naudit: OK\n") {
				t.Errorf("audit, want %v:\n%s", want, audit)
			}
			br := mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "breaches", "--verify")
			if got := bytes.Count([]byte(br), []byte("\n"+id+" ")); got != tc.breaches || !strings.Contains(br, "the server's answer agrees") {
				t.Fatalf("breaches --verify: %d of package %s, want %d:\n%s", got, id, tc.breaches, br)
			}
		})
	}
}

// TestEvidenceNeedsFilesAmended: a deployment whose agreement predates
// the rule turns it on by amendment (amend propose --evidence-needs-files,
// shown to every signer as a security-relevant change). Digests alone met
// the evidence deadline before the amendment's index and leave it open
// after it; the audit replays both.
func TestEvidenceNeedsFilesAmended(t *testing.T) {
	e := testenv.New(t)
	digest := hex.EncodeToString(sha([]byte("film")))
	before := reportedPackage(t, e)
	mustCLI(t, e.Addr, e.Certs, testenv.Responder, "evidence", before, "--evidence", digest)

	path := filepath.Join(t.TempDir(), "amend.pb")
	out := mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "amend", "propose", "--out", path, "--evidence-needs-files")
	if !strings.Contains(out, "\n  ! evidence needs files: false -> true\n") {
		t.Fatalf("amend propose --evidence-needs-files:\n%s", out)
	}
	for _, as := range []string{testenv.Responder, testenv.Mediator, testenv.Mediator2} {
		mustCLI(t, e.Addr, e.Certs, as, "amend", "sign", path, "--yes")
	}
	mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "amend", "submit", path)
	if out := mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "agreement", "show"); !strings.Contains(out, "\nevidence needs files: true ") {
		t.Fatalf("agreement show after the amendment:\n%s", out)
	}

	after := reportedPackage(t, e)
	mustCLI(t, e.Addr, e.Certs, testenv.Responder, "evidence", after, "--evidence", digest)
	for id, want := range map[string]*regexp.Regexp{before: evidenceMet, after: evidenceOpen} {
		if show := mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "show", id); !want.MatchString(show) {
			t.Errorf("show %s, want %v:\n%s", id, want, show)
		}
	}
	if out := mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "audit", "--no-cosign"); !strings.Contains(out, "\naudit: OK\n") {
		t.Fatalf("audit:\n%s", out)
	}
}
