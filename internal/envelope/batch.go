package envelope

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
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
// their equations is checked with one multi-scalar multiplication, which
// costs about half of verifying them one by one in batches of 16 or more.
// If the combination fails, each is verified alone to name the bad ones,
// so one forged signature slows its batch but never fails another check.
// Other keys are verified one by one.
func VerifyBatch(checks []Check) []error {
	errs := make([]error, len(checks))
	var (
		bv *voied.BatchVerifier
		in []int // indexes in checks of the batch's entries
	)
	for i, c := range checks {
		k, ok := c.Key.(ed25519.PublicKey)
		if !ok || len(k) != ed25519.PublicKeySize || len(c.Sig) != ed25519.SignatureSize {
			errs[i] = c.Verify()
			continue
		}
		if bv == nil {
			bv = voied.NewBatchVerifier()
		}
		msg := PAE(c.PayloadType, c.Payload)
		if x := expanded(k); x != nil {
			bv.AddExpandedWithOptions(x, msg, c.Sig, ed25519Options)
		} else {
			bv.AddWithOptions(voied.PublicKey(k), msg, c.Sig, ed25519Options)
		}
		in = append(in, i)
	}
	switch {
	case len(in) == 1:
		errs[in[0]] = checks[in[0]].Verify()
	case len(in) > 1:
		if ok, valid := bv.Verify(rand.Reader); !ok {
			for j, i := range in {
				if !valid[j] {
					errs[i] = ErrBadSignature
				}
			}
		}
	}
	return errs
}

// verifyEd25519 verifies one Ed25519 signature under ed25519Options.
func verifyEd25519(k ed25519.PublicKey, msg, sig []byte) bool {
	if x := expanded(k); x != nil {
		return voied.VerifyExpandedWithOptions(x, msg, sig, ed25519Options)
	}
	return voied.VerifyWithOptions(voied.PublicKey(k), msg, sig, ed25519Options)
}

// The exchange verifies many signatures by few keys (one per party
// member), so their expanded forms, with precomputed tables, are kept.
// The cache is bounded: past maxExpanded keys, new keys are verified
// without expansion.
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
	expandedMu.RUnlock()
	if ok {
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
// verifying a contiguous chunk of at least 32 checks as one batch.
func VerifyAll(checks []Check, workers int) []error {
	chunks := min(max(workers, 1), (len(checks)+minChunk-1)/minChunk)
	if chunks <= 1 {
		return VerifyBatch(checks)
	}
	errs := make([]error, len(checks))
	per := (len(checks) + chunks - 1) / chunks
	var wg sync.WaitGroup
	for lo := 0; lo < len(checks); lo += per {
		hi := min(lo+per, len(checks))
		wg.Go(func() { copy(errs[lo:hi], VerifyBatch(checks[lo:hi])) })
	}
	wg.Wait()
	return errs
}
