package envelope

import (
	"crypto"
	"crypto/ed25519"
	"fmt"
	"sync"

	voied "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// ed25519Options is the one Ed25519 verification rule of the exchange:
// RFC 8032 / FIPS 186-5 (canonical A, R and S; cofactored equation). Unlike
// crypto/ed25519's cofactorless rule it is the same for one signature and
// for a batch, so batching never changes a verdict.
var ed25519Options = &voied.Options{Verify: voied.VerifyOptionsFIPS_186_5}

// Check is one signature to verify: Sig over PAE(PayloadType, Payload) by
// Key.
type Check struct {
	PayloadType string
	Payload     []byte
	Sig         []byte
	Key         crypto.PublicKey
}

// Verify verifies the check alone.
func (c Check) Verify() error { return Verify(c.PayloadType, c.Payload, c.Sig, c.Key) }

// VerifyBatch verifies every check and returns one error per check, nil
// for a valid signature, with exactly the verdicts [Verify] would give.
// Ed25519 signatures are verified together: a random linear combination of
// their equations is checked with one multi-scalar multiplication, the
// terms of one key summed into one (batchHolds), which costs about half of
// verifying them one by one in batches of 16 or more, and less again when
// few keys sign many of them.
// If the combination fails, the batch is halved and each half checked the
// same way, down to single signatures, so a forged signature costs its
// batch a few extra combinations, not a verification of every signature
// alone, and never fails another check. Other keys are verified one by
// one.
func VerifyBatch(checks []Check) []error {
	errs := make([]error, len(checks))
	in := make([]int, 0, len(checks)) // indexes in checks of the Ed25519 ones
	msgs := make([][]byte, len(checks))
	arena := takeArena(checks)
	defer putArena(arena)
	for i, c := range checks {
		k, ok := c.Key.(ed25519.PublicKey)
		if !ok || len(k) != ed25519.PublicKeySize || len(c.Sig) != ed25519.SignatureSize {
			errs[i] = c.Verify()
			continue
		}
		// Each message in its own part of the arena (capacity cut to
		// it): nothing appends to one over the next.
		start := len(*arena)
		*arena = appendPAE(*arena, c.PayloadType, c.Payload)
		msgs[i] = (*arena)[start:len(*arena):len(*arena)]
		in = append(in, i)
	}
	verifyEd25519Batch(checks, msgs, in, errs)
	return errs
}

// The messages of a batch (the PAE of each payload, a copy) are written
// into one buffer, reused from batch to batch: an audit verifies some
// 3 KB of messages an entry, which as fresh allocations cost the
// collector and cache misses more than the copy. The messages are used
// only while VerifyBatch runs (the batch verifier hashes each when it is
// added, and does not outlive verifyEd25519Batch).
var arenas = sync.Pool{New: func() any { return new([]byte) }}

// maxArena: a larger buffer is not kept for the next batch.
const maxArena = 8 << 20

// takeArena returns an empty buffer with room for the messages of checks.
func takeArena(checks []Check) *[]byte {
	n := 0
	for _, c := range checks {
		n += paeSize(c.PayloadType, c.Payload)
	}
	a := arenas.Get().(*[]byte)
	if cap(*a) < n {
		*a = make([]byte, 0, n)
	}
	*a = (*a)[:0]
	return a
}

func putArena(a *[]byte) {
	if cap(*a) <= maxArena {
		arenas.Put(a)
	}
}

// minBisect is the batch size below which a failed batch is verified one
// signature at a time rather than halved again.
const minBisect = 4

// verifyEd25519Batch verifies the Ed25519 checks at indexes in, setting
// errs for the bad ones.
func verifyEd25519Batch(checks []Check, msgs [][]byte, in []int, errs []error) {
	if len(in) < minBisect {
		for _, i := range in {
			if !verifyEd25519(checks[i].Key.(ed25519.PublicKey), msgs[i], checks[i].Sig) {
				errs[i] = ErrBadSignature
			}
		}
		return
	}
	if batchHolds(checks, msgs, in) {
		return
	}
	half := len(in) / 2
	verifyEd25519Batch(checks, msgs, in[:half], errs)
	verifyEd25519Batch(checks, msgs, in[half:], errs)
}

// verifyEd25519 verifies one Ed25519 signature under ed25519Options.
func verifyEd25519(k ed25519.PublicKey, msg, sig []byte) bool {
	if len(k) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	if x := expanded(k); x != nil {
		return voied.VerifyExpandedWithOptions(x, msg, sig, ed25519Options)
	}
	return voied.VerifyWithOptions(voied.PublicKey(k), msg, sig, ed25519Options)
}

// The exchange verifies many signatures by few keys (one per party
// member), so their expanded forms, with precomputed tables, are kept.
// The cache is bounded: past maxExpanded keys, a new key is verified
// without expansion (expanding costs more than it saves for one use).
const maxExpanded = 4096

var (
	expandedMu   sync.RWMutex
	expandedKeys = map[[ed25519.PublicKeySize]byte]*voied.ExpandedPublicKey{}
)

// expanded returns the cached expanded form of k, or nil if k does not
// decode as a point (verification then refuses it) or the cache is full.
func expanded(k ed25519.PublicKey) *voied.ExpandedPublicKey {
	key := [ed25519.PublicKeySize]byte(k)
	expandedMu.RLock()
	x, ok := expandedKeys[key]
	full := len(expandedKeys) >= maxExpanded
	expandedMu.RUnlock()
	if ok || full {
		return x
	}
	x, err := voied.NewExpandedPublicKey(voied.PublicKey(k))
	if err != nil {
		return nil
	}
	expandedMu.Lock()
	defer expandedMu.Unlock()
	if len(expandedKeys) < maxExpanded {
		expandedKeys[key] = x
	}
	return x
}

// minChunk is the smallest batch VerifyAll gives a goroutine of its own:
// below it, batching saves less than a second core gains.
const minChunk = 32

// VerifyAll is [VerifyBatch] spread over at most workers goroutines, each
// verifying a contiguous chunk of at least 32 checks as one batch. It
// runs where no caller's panic handler is (a server's background stage),
// so a panic while verifying a chunk (a bug) refuses that chunk's checks
// instead of ending the process.
func VerifyAll(checks []Check, workers int) []error {
	errs := make([]error, len(checks))
	chunks := min(max(workers, 1), len(checks)/minChunk)
	if chunks <= 1 {
		verifyChunk(checks, errs)
		return errs
	}
	var wg sync.WaitGroup
	for i := range chunks { // even chunks, each at least minChunk
		lo, hi := i*len(checks)/chunks, (i+1)*len(checks)/chunks
		wg.Go(func() { verifyChunk(checks[lo:hi], errs[lo:hi]) })
	}
	wg.Wait()
	return errs
}

func verifyChunk(checks []Check, errs []error) {
	defer func() {
		if p := recover(); p != nil {
			for i := range errs {
				errs[i] = fmt.Errorf("%w: verification failed: %v", ErrBadSignature, p)
			}
		}
	}()
	copy(errs, VerifyBatch(checks))
}
