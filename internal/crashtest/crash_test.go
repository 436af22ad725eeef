package crashtest

// TestKillNine ("Durable at speed"): the real server binary under a
// concurrent signed load is SIGKILLed at random moments, over and over, on
// the same database. After every restart the test checks DESIGN.md
// invariant 5, "a receipt means durable", from the outside, with nothing but
// the client library, the pinned log key and the auditor:
//
//  1. every envelope that got a receipt is in the log, byte for byte, at the
//     index its receipt named, and the checkpoint the receipt carried is
//     still the log's checkpoint of that size;
//  2. every envelope that got no receipt (in flight at the kill) can be
//     re-sent as is and is then answered either as a duplicate (it had
//     committed) or as a new entry, and no message id of any author appears
//     twice in the log;
//  3. the latest checkpoint verifies with the pinned log key, and audit.Run
//     over the whole log (signatures, chains, reducer, Merkle tree)
//     recomputes its root.
//
// A SIGKILL loses the process, not the kernel's page cache: this test
// catches a receipt sent before its commit (or a commit that recovery
// cannot read back), not a missing fsync, which only a power cut exposes.
//
// Environment: MVM_CRASH_SEED=N replays the kill schedule of a logged seed
// (the load itself is concurrent and never replays exactly).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/bench"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

const (
	killPoints    = 24
	minKillPoints = 20
	softBudget    = 40 * time.Second // past it, stop after minKillPoints
	workers       = 16               // concurrent appenders per round
	ackWorkers    = 4                // of which acknowledge earlier packages (af), the rest submit (pk)
	payloadBytes  = 512
	minLoad       = 50 * time.Millisecond
	maxLoad       = 400 * time.Millisecond
	serverWait    = 10 * time.Second
	callTimeout   = 5 * time.Second
	submitter     = "pk-liaison"
	responder     = "af-interior"
)

// sent is one envelope the test sent at least once.
type sent struct {
	env    []byte
	author string // hex SHA-256 of the signing client's certificate
	client string // submitter or responder
	msgID  string
	pkgID  string // the package it creates (TargetPackage) or acknowledges
	ack    bool
	round  int
	// receipt is the tlog_proof of the receipt, nil while none came back;
	// index is the index it named.
	receipt []byte
	index   uint64
	resent  bool // re-sent after a kill
	dup     bool // the re-send was answered as a duplicate
}

// harness owns the server process, the PKI and everything sent.
type harness struct {
	t        *testing.T
	bin      string
	certs    string
	db       string
	logPath  string
	logFile  *os.File
	origin   string
	verifier note.Verifier
	cur      *proc // the running server, nil if none

	// Set by TestSyncKillNine before the first start:
	// addr, if set, is where every start listens (a node follows it);
	// args are flags added to every start; onReceipt, if set, is called
	// on the worker's goroutine as soon as an append's receipt comes back
	// (and after a re-send's); held accepts an append answered Unavailable
	// before the kill when its receipt was held (not replicated in time):
	// check re-sends it; and the kill schedule starts at the round's
	// first receipt, not when the server serves.
	addr      string
	args      []string
	onReceipt func(*sent)
	sync      bool

	mu      sync.Mutex
	rng     *rand.Rand // guarded by mu once workers run
	all     []*sent
	pool    []string // receipted packages not acknowledged yet
	pooled  int      // h.all[:pooled] have been considered for the pool
	badOnce map[codes.Code]bool

	// largest checkpoint any receipt carried: its size and root hash
	maxCpSize uint64
	maxCpRoot []byte

	// totals
	receipted, acks, resentN, dups, resentNew, heldN int
}

type proc struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
	err  error // cmd.Wait's result, set before done is closed
}

func TestKillNine(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 crash test: skipped with -short")
	}
	began := time.Now()
	seed := crashSeed(t)
	h := newHarness(t, rand.New(rand.NewPCG(seed, 0x6d766d2d6b696c6c)))
	p := h.start()
	kills := 0
	for round := range killPoints {
		if round >= minKillPoints && time.Since(began) > softBudget {
			t.Logf("%v spent: stopping after %d kill points", time.Since(began).Round(time.Millisecond), round)
			break
		}
		kills++
		h.mu.Lock()
		d := minLoad + time.Duration(h.rng.Int64N(int64(maxLoad-minLoad)+1))
		h.mu.Unlock()
		st := h.load(round, p, d)
		p = h.start()
		ck := h.check(round, p)
		t.Logf("kill %2d after %3dms: %4d sent, %4d receipted, %2d re-sent (%d duplicates); log %6d entries; checks %v",
			round+1, d.Milliseconds(), st.sent, st.receipted, ck.resent, ck.dups, ck.size, ck.took.Round(time.Millisecond))
		if t.Failed() {
			t.Fatalf("stopping at kill point %d (seed %d)", round+1, seed)
		}
	}
	size := h.finalCheck(p)
	h.stop(p)
	t.Logf("totals: %d kill points, %d receipted appends under load (%d of them acknowledgements), %d re-sent after kills (%d duplicates found, %d new entries), final log size %d, %v",
		kills, h.receipted, h.acks, h.resentN, h.dups, h.resentNew, size, time.Since(began).Round(time.Millisecond))
}

// crashSeed is the seed of a kill schedule: MVM_CRASH_SEED if set, else
// the clock's; it is logged, so that a failure's output names it.
func crashSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("MVM_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("MVM_CRASH_SEED: %v", err)
		}
	}
	t.Logf("seed %d (MVM_CRASH_SEED=%d replays the kill schedule)", seed, seed)
	return seed
}

func newHarness(t *testing.T, rng *rand.Rand) *harness {
	dir := t.TempDir()
	h := &harness{
		t:       t,
		bin:     buildServer(t, dir),
		certs:   filepath.Join(dir, "certs"),
		db:      filepath.Join(dir, "data", "mvm.db"),
		logPath: filepath.Join(dir, "server.log"),
		rng:     rng,
		badOnce: map[codes.Code]bool{},
	}
	if err := devpki.Generate(devpki.Options{Dir: h.certs}); err != nil {
		t.Fatal(err)
	}
	vkey, err := os.ReadFile(filepath.Join(h.certs, "log.vkey"))
	if err != nil {
		t.Fatal(err)
	}
	if h.verifier, err = note.NewVerifier(strings.TrimSpace(string(vkey))); err != nil {
		t.Fatalf("log.vkey: %v", err)
	}
	h.origin = h.verifier.Name()
	if h.logFile, err = os.Create(h.logPath); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if h.cur != nil { // a failure left the server running
			_ = h.cur.cmd.Process.Kill()
			<-h.cur.done
			h.cur = nil
		}
		h.logFile.Close()
		if t.Failed() {
			h.dumpLog()
		}
	})
	return h
}

// buildServer compiles ./server of this module into dir once.
func buildServer(t *testing.T, dir string) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatalf("go env GOMOD: not inside the module")
	}
	cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "./server")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./server: %v\n%s", err, out)
	}
	return filepath.Join(dir, "server")
}

func (h *harness) dumpLog() {
	b, err := os.ReadFile(h.logPath)
	if err != nil || len(b) == 0 {
		return
	}
	if len(b) > 8<<10 {
		b = b[len(b)-8<<10:]
	}
	h.t.Logf("server log (tail):\n%s", b)
}

// start runs the server on a free loopback port (h.addr if set) and waits
// until it accepts TCP connections.
func (h *harness) start() *proc {
	t := h.t
	t.Helper()
	addr := h.addr
	if addr == "" {
		var err error
		if addr, err = testenv.FreeAddr(); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Fprintf(h.logFile, "--- start on %s\n", addr)
	args := append([]string{"--listen", addr, "--db", h.db, "--certs", h.certs, "--log-level", "warn"}, h.args...)
	cmd := exec.Command(h.bin, args...)
	cmd.Stdout, cmd.Stderr = h.logFile, h.logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start server: %v", err)
	}
	p := &proc{cmd: cmd, addr: addr, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	h.cur = p
	deadline := time.Now().Add(serverWait)
	for {
		select {
		case <-p.done:
			h.cur = nil
			t.Fatalf("server exited before accepting connections: %v", p.err)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("server does not accept connections on %s after %v", addr, serverWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kill SIGKILLs the server and waits for it.
func (h *harness) kill(p *proc) {
	if err := p.cmd.Process.Kill(); err != nil {
		h.t.Errorf("kill: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(serverWait):
		h.t.Fatalf("server still running %v after SIGKILL", serverWait)
	}
	h.cur = nil
}

// stop stops the server gracefully and expects exit status 0.
func (h *harness) stop(p *proc) {
	t := h.t
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(serverWait):
		t.Fatalf("server still running %v after SIGTERM", serverWait)
	}
	h.cur = nil
	if p.err != nil {
		t.Errorf("graceful stop: server exited with %v, want status 0", p.err)
	}
}

type clients struct {
	pk, af *mvmclient.Client
}

func (h *harness) dial(p *proc) clients {
	t := h.t
	var cs clients
	for _, x := range []struct {
		c    **mvmclient.Client
		name string
	}{{&cs.pk, submitter}, {&cs.af, responder}} {
		o := mvmclient.FromCertsDir(p.addr, h.certs, x.name)
		o.Retries = -1 // the test decides what is re-sent
		o.CallTimeout = callTimeout
		c, err := mvmclient.Dial(o)
		if err != nil {
			t.Fatalf("dial as %s: %v", x.name, err)
		}
		*x.c = c
	}
	return cs
}

// waitServing waits until the server answers a read: its log is open.
func (h *harness) waitServing(c *mvmclient.Client) {
	deadline := time.Now().Add(serverWait)
	for {
		ctx, cancel := context.WithTimeout(h.t.Context(), time.Second)
		_, err := c.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{})
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("server does not serve reads after %v: %v", serverWait, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (cs clients) close() { cs.pk.Close(); cs.af.Close() }

func (cs clients) by(name string) *mvmclient.Client {
	if name == responder {
		return cs.af
	}
	return cs.pk
}

func certSHA(c *mvmclient.Client) string {
	sum := sha256.Sum256(c.Signer().Certificate.Raw)
	return hex.EncodeToString(sum[:])
}

type loadStats struct{ sent, receipted int }

// load runs the workers against p for d (under h.sync, d from the round's
// first receipt), then SIGKILLs p with appends in flight.
func (h *harness) load(round int, p *proc, d time.Duration) loadStats {
	cs := h.dial(p)
	defer cs.close()
	// The server binds its port before it opens the log (and, on a new
	// file, commits the genesis): the kill schedule starts once it serves,
	// so that no kill lands in a first start, which leaves a file holding
	// no log that the server rightly refuses.
	h.waitServing(cs.pk)
	ctx := h.t.Context()
	var stop, killing atomic.Bool
	var st loadStats
	first := make(chan struct{}) // closed at the round's first receipt
	var firstOnce sync.Once
	var wg sync.WaitGroup
	for w := range workers {
		ack := w < ackWorkers
		name := submitter
		if ack {
			name = responder
		}
		c := cs.by(name)
		author := certSHA(c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				s := &sent{author: author, client: name, ack: ack, round: round}
				var m proto.Message
				if ack {
					id, ok := h.popPool()
					if !ok {
						time.Sleep(5 * time.Millisecond)
						continue
					}
					hd := mvmclient.NewHeader()
					m = &mvmv1.Acknowledgement{Header: hd, PackageId: id, Note: "acknowledged under kill -9"}
					s.msgID, s.pkgID = hd.MessageId, id
				} else {
					tp := bench.Package(payloadBytes)
					m = tp
					s.msgID, s.pkgID = tp.Header.MessageId, tp.Header.MessageId
				}
				env, err := c.Seal(m)
				if err != nil {
					h.t.Errorf("seal: %v", err)
					return
				}
				s.env = env
				h.mu.Lock()
				h.all = append(h.all, s)
				st.sent++
				h.mu.Unlock()
				resp, err := c.AppendSealed(ctx, env)
				h.mu.Lock()
				if err == nil {
					s.receipt, s.index = resp.Receipt.GetTlogProof(), resp.Receipt.GetIndex()
					st.receipted++
					h.receipted++
					if ack {
						h.acks++
					}
					if resp.Duplicate {
						h.t.Errorf("round %d: fresh envelope %s answered as a duplicate of index %d", round, s.msgID, s.index)
					}
				} else if h.sync && status.Code(err) == codes.Unavailable && strings.Contains(err.Error(), "not replicated") {
					h.heldN++ // logged, receipt held: check re-sends it
				} else if code := status.Code(err); !killing.Load() || code != codes.Unavailable {
					if !h.badOnce[code] {
						h.badOnce[code] = true
						h.t.Errorf("round %d: append of a valid %s failed before the kill or not as Unavailable: %v",
							round, kind(s), err)
					}
				}
				h.mu.Unlock()
				if err == nil {
					firstOnce.Do(func() { close(first) })
					if h.onReceipt != nil {
						h.onReceipt(s)
					}
				}
				if err != nil && killing.Load() {
					return // no new calls to a dead server
				}
			}
		}()
	}
	if h.sync {
		// Receipts wait for the node, which comes back to the restarted
		// primary after its backoff: timed from the start, a kill could
		// land before any receipt and the round would test nothing.
		select {
		case <-first:
		case <-time.After(30 * time.Second):
			h.t.Errorf("round %d: no receipt within 30s of the restart", round)
		}
	}
	time.Sleep(d)
	killing.Store(true)
	h.kill(p)
	stop.Store(true)
	wg.Wait()
	return st
}

func kind(s *sent) string {
	if s.ack {
		return "Acknowledgement"
	}
	return "TargetPackage"
}

// popPool takes a random receipted, not yet acknowledged package.
func (h *harness) popPool() (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := len(h.pool)
	if n == 0 {
		return "", false
	}
	i := h.rng.IntN(n)
	id := h.pool[i]
	h.pool[i] = h.pool[n-1]
	h.pool = h.pool[:n-1]
	return id, true
}

type checkStats struct {
	resent, dups int
	size         uint64
	took         time.Duration
}

// check runs after a restart: it verifies the receipts of the last round,
// re-sends what got none, and checks the whole log.
func (h *harness) check(round int, p *proc) checkStats {
	t := h.t
	t0 := time.Now()
	cs := h.dial(p)
	defer cs.close()
	ctx := t.Context()

	// Receipts of the round that was killed, verified offline.
	var pending []*sent
	for _, s := range h.all[h.pooled:] {
		if s.receipt == nil {
			pending = append(pending, s)
			continue
		}
		h.verifyReceipt(s)
	}

	// (2) Re-send, as is, everything that got no receipt.
	var st checkStats
	for _, s := range pending {
		c := cs.by(s.client)
		var resp *mvmv1.AppendResponse
		var err error
		for try := 0; try < 3; try++ {
			if resp, err = c.AppendSealed(ctx, s.env); err == nil || !mvmclient.Transient(err) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Errorf("round %d: re-sending %s %s after the kill: %v", round, kind(s), s.msgID, err)
			continue
		}
		s.receipt, s.index, s.resent, s.dup = resp.Receipt.GetTlogProof(), resp.Receipt.GetIndex(), true, resp.Duplicate
		if h.onReceipt != nil {
			h.onReceipt(s)
		}
		st.resent++
		h.resentN++
		if s.dup {
			st.dups++
			h.dups++
		} else {
			h.resentNew++
		}
		h.verifyReceipt(s)
	}

	// (1) and (2): the whole log against everything ever receipted.
	st.size = h.scan(ctx, cs.pk)
	// (3) the checkpoint and the auditor.
	h.checkpointAndAudit(ctx, cs.pk, st.size)

	// Packages receipted in this round may be acknowledged from now on.
	for _, s := range h.all[h.pooled:] {
		if !s.ack && s.receipt != nil {
			h.pool = append(h.pool, s.pkgID)
		}
	}
	h.pooled = len(h.all)
	st.took = time.Since(t0)
	return st
}

// verifyReceipt checks a receipt with the pinned log key and remembers the
// largest checkpoint seen.
func (h *harness) verifyReceipt(s *sent) {
	t := h.t
	r, err := tlog.VerifyReceipt(s.receipt, h.origin, h.verifier)
	if err != nil {
		t.Errorf("receipt for %s %s: %v", kind(s), s.msgID, err)
		return
	}
	if r.Index != s.index {
		t.Errorf("receipt for %s carries index %d, the response said %d", s.msgID, r.Index, s.index)
	}
	e, err := entry.DecodeLeaf(r.Leaf)
	if err != nil || !bytes.Equal(e.Envelope, s.env) || e.Index != s.index {
		t.Errorf("receipt for %s: its leaf is not the envelope sent at index %d (%v)", s.msgID, s.index, err)
	}
	if r.Checkpoint.Size > h.maxCpSize {
		h.maxCpSize, h.maxCpRoot = r.Checkpoint.Size, r.Checkpoint.Hash
	}
}

// scan reads the whole log and checks every receipted envelope is at its
// index and that no author used a message id twice. It returns the size.
func (h *harness) scan(ctx context.Context, c *mvmclient.Client) uint64 {
	t := h.t
	var envs [][]byte
	msgids := map[string]uint64{}
	err := c.Entries(ctx, 0, 0, func(i uint64, leaf []byte) error {
		e, err := entry.DecodeLeaf(leaf)
		if err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		if e.Index != i {
			return fmt.Errorf("entry %d claims index %d", i, e.Index)
		}
		envs = append(envs, e.Envelope)
		env, err := envelope.Parse(e.Envelope)
		if err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		m, err := message.Decode(env.PayloadType, env.Payload)
		if err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		author := "genesis"
		if i > 0 {
			author = hex.EncodeToString(e.PeerCertificateSha256)
		}
		key := author + "\x00" + message.Header(m).GetMessageId()
		if prev, ok := msgids[key]; ok {
			t.Errorf("message id %q of %s is logged twice: at %d and %d", message.Header(m).GetMessageId(), author[:12], prev, i)
		}
		msgids[key] = i
		return nil
	})
	if err != nil {
		t.Fatalf("reading the log: %v", err)
	}
	size := uint64(len(envs))
	lost := 0
	for _, s := range h.all {
		if s.receipt == nil {
			t.Errorf("%s %s (round %d) has no receipt even after the re-send", kind(s), s.msgID, s.round)
			continue
		}
		if s.index >= size || !bytes.Equal(envs[s.index], s.env) {
			if lost++; lost <= 10 {
				t.Errorf("DURABILITY: %s %s (round %d, re-sent %v) was receipted at index %d, but the restarted log (size %d) does not hold it there",
					kind(s), s.msgID, s.round, s.resent, s.index, size)
			}
		}
		if at, ok := msgids[s.author+"\x00"+s.msgID]; !ok || at != s.index {
			t.Errorf("message id %s is logged at %d (found %v), its receipt says %d", s.msgID, at, ok, s.index)
		}
	}
	if lost > 10 {
		t.Errorf("DURABILITY: %d receipted envelopes lost in all", lost)
	}
	return size
}

// checkpointAndAudit verifies the latest checkpoint with the pinned log key
// and has the auditor recompute it from the raw log.
func (h *harness) checkpointAndAudit(ctx context.Context, c *mvmclient.Client, size uint64) {
	t := h.t
	resp, err := c.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatalf("GetCheckpoint: %v", err)
	}
	cp, _, err := tlog.OpenCheckpoint(resp.Checkpoint, h.origin, h.verifier)
	if err != nil {
		t.Fatalf("latest checkpoint does not verify with the pinned log key: %v", err)
	}
	if cp.Size != size {
		t.Errorf("latest checkpoint covers %d entries, the log has %d", cp.Size, size)
	}
	if h.maxCpSize > 0 {
		// The checkpoint of the largest receipt is still the log's.
		old, err := c.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{Size: h.maxCpSize})
		if err != nil {
			t.Errorf("DURABILITY: checkpoint of size %d, carried by a receipt, is gone: %v", h.maxCpSize, err)
		} else if oc, _, err := tlog.OpenCheckpoint(old.Checkpoint, h.origin, h.verifier); err != nil {
			t.Errorf("checkpoint of size %d: %v", h.maxCpSize, err)
		} else if !bytes.Equal(oc.Hash, h.maxCpRoot) {
			t.Errorf("checkpoint of size %d now has root %x, a receipt carried %x", h.maxCpSize, oc.Hash, h.maxCpRoot)
		}
	}
	rep, err := audit.Run(ctx, c, cp.Size, audit.Options{RootAt: h.maxCpSize})
	if err != nil {
		t.Fatalf("audit of %d entries: %v", cp.Size, err)
	}
	if !bytes.Equal(rep.Root, cp.Hash) {
		t.Errorf("audit root %x differs from the checkpoint's %x at size %d", rep.Root, cp.Hash, cp.Size)
	}
	if h.maxCpSize > 0 && !bytes.Equal(rep.RootAt, h.maxCpRoot) {
		t.Errorf("audit root at size %d is %x, a receipt's checkpoint says %x", h.maxCpSize, rep.RootAt, h.maxCpRoot)
	}
}

// finalCheck re-checks every receipt ever given against the final log.
func (h *harness) finalCheck(p *proc) uint64 {
	cs := h.dial(p)
	defer cs.close()
	ctx := h.t.Context()
	size := h.scan(ctx, cs.pk)
	h.checkpointAndAudit(ctx, cs.pk, size)
	return size
}
