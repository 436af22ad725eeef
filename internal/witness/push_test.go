package witness_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/witness"
)

const ours = "witness.test/ours"

// TestPushCosigns: the primary pushes its checkpoints to the witness the
// agreement lists, stores its verified cosignature, and the count of the
// agreement (external witnesses included) counts it.
func TestPushCosigns(t *testing.T) {
	dir := pki(t)
	skey, vkey := newWitnessKey(t, dir, ours)
	state := filepath.Join(t.TempDir(), "witness.state")
	w := serve(t, ourWitness(t, dir, skey, state))
	e := testenv.Start(t, dir, filepath.Join(t.TempDir(), "mvm.db"), fast(witness.Target{Name: ours, URL: w.URL()}), withMetrics)

	size := appendN(t, e, 3)
	cp, n := cosignedBy(t, e, size, ours)
	if n != 1 {
		t.Errorf("the server counts %d witnesses on the cosigned checkpoint, want 1", n)
	}
	var line string
	for l := range strings.Lines(string(cp)) {
		if strings.HasPrefix(l, "— "+ours+" ") {
			line = l
		}
	}
	if _, err := tlog.VerifyCosignature(cp, line, vkey); err != nil {
		t.Errorf("the stored cosignature does not verify under the agreement's key: %v", err)
	}
	saved, err := witness.FileState(state).Load()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Split(string(saved), "\n")[1]; got != strconv.FormatUint(size, 10) {
		t.Errorf("the witness saved size %s, want %d", got, size)
	}
	// The metrics are updated just after the cosignature is stored.
	waitFor(t, "the witness metrics", func() bool {
		m := scrape(t, e)
		return strings.Contains(m, `mvm_witness_pushes_total{result="cosigned",witness="`+ours+`"}`) &&
			strings.Contains(m, `mvm_witness_cosigned_size{witness="`+ours+`"} `+strconv.FormatUint(size, 10)+"\n")
	})
}

// TestResync: a primary that restarts does not know the witness's size: it
// sends old size 0, gets 409 with the witness's size, and resends from it
// (no checkpoint is cosigned twice from scratch). A witness that restarts
// resumes from its saved checkpoint.
func TestResync(t *testing.T) {
	dir := pki(t)
	skey, _ := newWitnessKey(t, dir, ours)
	state := filepath.Join(t.TempDir(), "witness.state")
	w := serve(t, ourWitness(t, dir, skey, state))
	e := testenv.Start(t, dir, filepath.Join(t.TempDir(), "mvm.db"), fast(witness.Target{Name: ours, URL: w.URL()}))
	size := appendN(t, e, 2)
	cosignedBy(t, e, size, ours)

	e.Restart()
	size2 := appendN(t, e, 2)
	cosignedBy(t, e, size2, ours)
	var after []exchange
	for i, x := range w.exchanges() {
		if x.status == http.StatusConflict {
			after = w.exchanges()[i:]
			break
		}
	}
	if len(after) < 2 || after[0].old != 0 || after[1].status != http.StatusOK || after[1].old == 0 {
		t.Fatalf("after the primary's restart: got exchanges %v, want a 409 for old size 0, then a 200 from the witness's size", after)
	}

	// The witness restarts on its saved state: the primary, which knows
	// its size, goes on from there without a conflict.
	w.stop()
	w.h = ourWitness(t, dir, skey, state)
	before := len(w.exchanges())
	w.start()
	size3 := appendN(t, e, 2)
	cosignedBy(t, e, size3, ours)
	for _, x := range w.exchanges()[before:] {
		if x.status != http.StatusOK {
			t.Errorf("after the witness's restart: exchange %v, want only 200s", x)
		}
	}
}

// TestWrongKeyRefused: a witness answering with a cosignature under another
// key than the agreement's, for its name, has nothing stored.
func TestWrongKeyRefused(t *testing.T) {
	dir := pki(t)
	newWitnessKey(t, dir, ours)
	impostor, _, err := tlog.GenerateCosignerKey(ours) // same name, another key
	if err != nil {
		t.Fatal(err)
	}
	w := serve(t, ourWitness(t, dir, impostor, filepath.Join(t.TempDir(), "witness.state")))
	e := testenv.Start(t, dir, filepath.Join(t.TempDir(), "mvm.db"), fast(witness.Target{Name: ours, URL: w.URL()}), withMetrics)
	size := appendN(t, e, 2)
	deadline := time.Now().Add(10 * time.Second)
	for ok := 0; ok < 2; {
		ok = 0
		for _, x := range w.exchanges() {
			if x.status == http.StatusOK {
				ok++
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the witness did not answer twice: %v", w.exchanges())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for s := uint64(1); s <= size; s++ {
		lines, err := e.Server.Ledger().Store().Cosignatures(s)
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) != 0 {
			t.Errorf("size %d: stored %q from a witness signing with a key the agreement does not list", s, lines)
		}
	}
	m := scrape(t, e)
	if want := `mvm_witness_pushes_total{result="error",witness="` + ours + `"}`; !strings.Contains(m, want) {
		t.Errorf("metrics have no %q", want)
	}
	if strings.Contains(m, `result="cosigned"`) {
		t.Errorf("metrics count a refused cosignature as cosigned")
	}
}

// TestHangingWitness: a witness that never answers holds one request, and
// only one; appends go on meanwhile. Once it answers again, the next push
// is the latest checkpoint, none of those in between (latest wins).
func TestHangingWitness(t *testing.T) {
	dir := pki(t)
	skey, _ := newWitnessKey(t, dir, ours)
	honest := ourWitness(t, dir, skey, filepath.Join(t.TempDir(), "witness.state"))
	release := make(chan struct{})
	var inFlight, most, seen atomic.Int32
	hang := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		if seen.Add(1) > 1 {
			honest.ServeHTTP(w, r)
			return
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		http.Error(w, "was hung", http.StatusServiceUnavailable)
	})
	w := serve(t, hang)
	var once sync.Once
	unhang := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unhang)
	e := testenv.Start(t, dir, filepath.Join(t.TempDir(), "mvm.db"), fast(witness.Target{Name: ours, URL: w.URL()}),
		func(c *server.Config) { c.WitnessTimeout = time.Hour })
	for seen.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	// Each append must complete on its own while the witness holds the
	// push: a deadline per append, not a timing assertion.
	c := e.Client(testenv.Submitter)
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := c.Append(ctx, pkg())
		cancel()
		if err != nil {
			t.Fatalf("an append while the witness hangs: %v", err)
		}
	}
	head := e.Server.Ledger().Head().Size
	if head != 21 {
		t.Errorf("log size %d after 20 appends, want 21", head)
	}
	if m, s := most.Load(), seen.Load(); m != 1 || s != 1 {
		t.Errorf("requests to the hanging witness: %d at most at once, %d in all; want 1 and 1 (one in flight)", m, s)
	}

	unhang()
	cosignedBy(t, e, head, ours)
	x := w.exchanges()
	if len(x) != 2 || x[0].status != http.StatusServiceUnavailable || x[1].size != head || x[1].status != http.StatusOK {
		t.Errorf("exchanges %v: want the hung one, then the latest checkpoint (size %d) and nothing in between", x, head)
	}
}

// TestClientErrors: each refusal of the protocol is its own error, and a
// 200 without a valid cosignature is not a success.
func TestClientErrors(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		want   error
	}{
		{http.StatusForbidden, "no", witness.ErrForbidden},
		{http.StatusNotFound, "no", witness.ErrUnknownLog},
		{http.StatusUnprocessableEntity, "no", witness.ErrInconsistent},
		{http.StatusBadRequest, "no", witness.ErrStatus},
		{http.StatusConflict, "not a size\n", witness.ErrStatus},
		{http.StatusOK, "", witness.ErrBadCosignature},
		{http.StatusOK, "— " + ours + " AAAA\n", witness.ErrBadCosignature},
		{http.StatusOK, "garbage\n", witness.ErrBadCosignature},
	} {
		t.Run(http.StatusText(tc.status)+" "+tc.body, func(t *testing.T) {
			w := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			_, vkey, err := tlog.GenerateCosignerKey(ours)
			if err != nil {
				t.Fatal(err)
			}
			c := &witness.Client{Target: witness.Target{Name: ours, URL: w.URL()}, Key: vkey}
			_, err = c.AddCheckpoint(ctxT(t), 0, nil, []byte("o\n1\nAAAA\n\n— o AAAA\n"))
			if !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	w := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/x.tlog.size")
		w.WriteHeader(http.StatusConflict)
		w.Write([]byte("42\n"))
	}))
	c := &witness.Client{Target: witness.Target{Name: ours, URL: w.URL()}}
	var conflict *witness.ConflictError
	if _, err := c.AddCheckpoint(ctxT(t), 0, nil, []byte("x")); !errors.As(err, &conflict) || conflict.Size != 42 {
		t.Errorf("409 with 42: got %v, want a ConflictError of size 42", err)
	}
}

// TestParseTarget: --witness NAME=URL, http or https only.
func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		in, name, url string
		ok            bool
	}{
		{"w.example/1=http://127.0.0.1:7380", "w.example/1", "http://127.0.0.1:7380", true},
		{"w=https://w.example/prefix/", "w", "https://w.example/prefix", true},
		{"w=ftp://w.example", "", "", false},
		{"w=127.0.0.1:7380", "", "", false},
		{"=http://x", "", "", false},
		{"w", "", "", false},
	} {
		got, err := witness.ParseTarget(tc.in)
		if (err == nil) != tc.ok || got.Name != tc.name || got.URL != tc.url {
			t.Errorf("ParseTarget(%q) = %+v, %v", tc.in, got, err)
		}
	}
}

// TestUnlistedWitnessRefused: the server does not start with a --witness
// the agreement does not list: its cosignatures would count for nobody.
func TestUnlistedWitnessRefused(t *testing.T) {
	dir := pki(t)
	_, err := server.Start(server.Config{Listen: "127.0.0.1:0", DB: filepath.Join(t.TempDir(), "mvm.db"), CertsDir: dir,
		Witnesses: []witness.Target{{Name: "nobody.example/w", URL: "http://127.0.0.1:1"}}})
	if err == nil || !strings.Contains(err.Error(), "lists no witness of that name") {
		t.Fatalf("got %v, want a refusal naming the unlisted witness", err)
	}
}

// TestTimeout: a push the witness never answers is given up after the
// timeout, and the next one (the latest checkpoint) gets through.
func TestTimeout(t *testing.T) {
	dir := pki(t)
	skey, _ := newWitnessKey(t, dir, ours)
	honest := ourWitness(t, dir, skey, filepath.Join(t.TempDir(), "witness.state"))
	var seen atomic.Int32
	w := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1) > 1 {
			honest.ServeHTTP(w, r)
			return
		}
		<-r.Context().Done() // hangs until the primary gives up
	}))
	e := testenv.Start(t, dir, filepath.Join(t.TempDir(), "mvm.db"), fast(witness.Target{Name: ours, URL: w.URL()}),
		func(c *server.Config) { c.WitnessTimeout = 200 * time.Millisecond })
	size := appendN(t, e, 2)
	cosignedBy(t, e, size, ours)
}

// TestWitnessForked: a witness that holds another checkpoint of the log's
// size (signed by the log key: a fork) answers 409 with the very size
// sent; the primary stores nothing, counts an error and does not loop.
func TestWitnessForked(t *testing.T) {
	dir := pki(t)
	skey, _ := newWitnessKey(t, dir, ours)
	state := filepath.Join(t.TempDir(), "witness.state")
	signer, v := logKeys(t, dir)
	root := make([]byte, 32)
	root[0] = 1
	fork, err := tlog.SignCheckpoint(signer, v.Name(), 1, root) // the log's size: its genesis
	if err != nil {
		t.Fatal(err)
	}
	if err := witness.FileState(state).Save(fork); err != nil {
		t.Fatal(err)
	}
	w := serve(t, ourWitness(t, dir, skey, state))
	e := testenv.Start(t, dir, filepath.Join(t.TempDir(), "mvm.db"), fast(witness.Target{Name: ours, URL: w.URL()}), withMetrics,
		func(c *server.Config) { c.WitnessBackoff = time.Hour })
	waitFor(t, "the fork to be counted as an error", func() bool {
		return strings.Contains(scrape(t, e), `mvm_witness_pushes_total{result="error",witness="`+ours+`"}`)
	})
	if lines, err := e.Server.Ledger().Store().Cosignatures(1); err != nil || len(lines) != 0 {
		t.Errorf("size 1: stored %q (%v) from a witness holding a fork", lines, err)
	}
	waitFor(t, "the witness to record its second answer", func() bool { return len(w.exchanges()) >= 2 })
	x := w.exchanges()
	if len(x) != 2 || x[0].old != 0 || x[1].old != 1 || x[1].status != http.StatusConflict {
		t.Errorf("exchanges %v: want old size 0 (409: size 1), old size 1 (409: size 1, a fork), then a backoff", x)
	}
}
