package cli

import (
	"cmp"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"hash/fnv"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/seal"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
	"google.golang.org/protobuf/proto"
)

// bodyAuditor opens, during an audit, every sealed body its keyring may
// read: a package's key when its target package passes, then each later
// message with it. The work is spread over one worker per core, each
// package on one worker (by a hash of its id), so that a worker meets a
// package's entries in log order, its target package first; the audit's
// own pass only hands entries over. Each worker keeps one key per readable
// package (32 bytes and the id) and the ids of packages it cannot read.
type bodyAuditor struct {
	kr      *message.Keyring
	origin  string
	workers []chan bodyJob
	wg      sync.WaitGroup
	sealed  int // counted by visit, in the audit's pass
	opened  atomic.Int64
	mu      sync.Mutex
	faults  []bodyFault
}

// bodyJob is one sealed entry handed to a worker.
type bodyJob struct {
	index   uint64
	typ, id string // payload type, message id
	pkg     string
	payload []byte               // the signed payload bytes
	header  proto.Message        // the payload as the audit decoded it (read only)
	target  *mvmv1.TargetPackage // its cleartext header, for a target package
}

type bodyFault struct {
	index uint64
	text  string
}

// maxFaultsShown bounds the faults an audit prints; it counts them all.
const maxFaultsShown = 20

// newBodyAuditor returns the auditor of sealed bodies for audit --key, or
// nil when there is no key to open them with: the key files given, else
// CERTS/seal-<party of --as>.key if it exists.
func (e *env) newBodyAuditor(files []string, origin string) (*bodyAuditor, error) {
	party := ""
	if e.as != "" {
		if b, err := os.ReadFile(e.certFile()); err == nil {
			if blk, _ := pem.Decode(b); blk != nil {
				if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
					if id, err := identity.Parse(c); err == nil {
						party = id.Party
					}
				}
			}
		}
	}
	if party == "" {
		if len(files) == 0 {
			return nil, nil
		}
		return nil, usagef("--key: the party whose key it is comes from --as NAME's certificate; give --as")
	}
	kr, err := e.loadKeyring(party, files)
	if kr == nil || err != nil {
		return nil, err
	}
	return &bodyAuditor{kr: kr, origin: origin}, nil
}

// visit is audit.Options.Visit: it hands the entry to its package's
// worker if it is sealed. An author's fault is recorded, not returned: the
// log itself is sound, the audit goes on and reports every fault at its
// end.
func (b *bodyAuditor) visit(index uint64, o *entry.Opened) error {
	if o.Payload == nil || !message.IsSealed(o.Payload) {
		return nil
	}
	b.sealed++
	if b.workers == nil {
		b.start()
	}
	j := bodyJob{index: index, typ: o.Type, id: o.MessageID(), pkg: message.PackageID(o.Payload),
		// Not copied: the payload is a slice of the leaf (the verifier
		// parses envelopes in place, and an audit's source gives leaves
		// to keep) or of the envelope's own copy; nothing changes either.
		payload: o.Envelope.GetPayload(), header: o.Payload}
	if tp, ok := o.Payload.(*mvmv1.TargetPackage); ok {
		j.target = tp
	}
	h := fnv.New32a()
	h.Write([]byte(j.pkg))
	b.workers[h.Sum32()%uint32(len(b.workers))] <- j
	return nil
}

func (b *bodyAuditor) start() {
	b.workers = make([]chan bodyJob, runtime.GOMAXPROCS(0))
	for i := range b.workers {
		jobs := make(chan bodyJob, 256)
		b.workers[i] = jobs
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.work(jobs)
		}()
	}
}

// work opens its packages' entries, in log order.
func (b *bodyAuditor) work(jobs <-chan bodyJob) {
	keys := map[string]seal.PackageKey{}
	for j := range jobs {
		if j.target != nil {
			key, err := b.kr.PackageKey(b.origin, j.target)
			if message.IsFault(err) {
				b.fault(j, err)
			}
			if err != nil {
				continue // not a recipient, a key not held, or a fault
			}
			keys[j.pkg] = key
		}
		key, ok := keys[j.pkg]
		if !ok {
			continue
		}
		if _, err := message.OpenDecoded(b.origin, key, j.header, j.payload); err != nil {
			b.fault(j, err)
			continue
		}
		b.opened.Add(1)
	}
}

func (b *bodyAuditor) fault(j bodyJob, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.faults = append(b.faults, bodyFault{j.index, fmt.Sprintf("entry %d (%s %s): %v", j.index, j.typ, j.id, err)})
}

// wait lets the workers finish, and sorts the faults in log order.
func (b *bodyAuditor) wait() {
	for _, w := range b.workers {
		close(w)
	}
	b.wg.Wait()
	b.workers = nil
	slices.SortFunc(b.faults, func(x, y bodyFault) int { return cmp.Compare(x.index, y.index) })
}

// report prints what was opened, and fails naming the faulty entries.
func (b *bodyAuditor) report(e *env) error {
	b.wait()
	opened := int(b.opened.Load())
	e.printf("sealed bodies: %d sealed entries, %d opened and valid with party %s's key, %d in packages it may not read\n",
		b.sealed, opened, b.kr.Party, b.sealed-opened-len(b.faults))
	if len(b.faults) == 0 {
		return nil
	}
	for i, f := range b.faults {
		if i == maxFaultsShown {
			e.printf("sealed: ... and %d more\n", len(b.faults)-i)
			break
		}
		e.printf("sealed: %s\n", f.text)
	}
	return fmt.Errorf("FAILED: %d sealed bodies are their signed authors' faults (first: %s)", len(b.faults), b.faults[0].text)
}

// pinnedOrigin is the log origin of the pinned genesis (amendments cannot
// change it), "" if it does not parse: the audit then fails on it anyway.
func pinnedOrigin(raw []byte) string {
	ag, _, err := agreement.FromEnvelope(raw, 0)
	if err != nil {
		return ""
	}
	return ag.LogOrigin
}
