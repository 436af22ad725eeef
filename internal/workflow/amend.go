package workflow

import (
	"time"

	"github.com/mvm-exchange/mvm/internal/agreement"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Amend returns the agreement that is in force from index on. With current
// nil it admits the genesis agreement, which must be at index 0; otherwise
// an amendment, which must name the agreement it replaces and keep the log's
// identity. Either must be signed by every party it lists and, for an
// amendment, by every party of the agreement in force.
func Amend(current *agreement.Agreement, env *mvmv1.Envelope, p *mvmv1.Agreement, index uint64, at time.Time) (*agreement.Agreement, error) {
	if current == nil && index != 0 {
		return nil, refuse(ErrPrecondition, "the log has no agreement yet")
	}
	if current != nil && index == 0 {
		return nil, refuse(ErrPrecondition, "index 0 is the genesis agreement")
	}
	next, err := agreement.Parse(p, index)
	if err != nil {
		return nil, refuse(ErrInvalid, "%v", err)
	}
	signedBy := []*agreement.Agreement{next}
	if current != nil && p.GetHeader().GetMessageId() == current.Proto.GetHeader().GetMessageId() {
		// A replay of the agreement in force (e.g. the genesis envelope sent
		// again) is signed by everyone but was never signed as an amendment.
		return nil, refuse(ErrAlreadyExists, "agreement %s is the one in force (index %d)", current.Proto.GetHeader().GetMessageId(), current.Index)
	}
	if current != nil {
		if p.AmendsIndex != current.Index {
			return nil, refuse(ErrPrecondition, "amendment amends index %d, but the agreement in force is at index %d", p.AmendsIndex, current.Index)
		}
		if next.LogOrigin != current.LogOrigin || next.LogKey != current.LogKey || next.TrustDomain != current.TrustDomain {
			return nil, refuse(ErrInvalid, "an amendment may not change the log origin, log key or trust domain")
		}
		signedBy = append(signedBy, current)
	}
	if _, err := agreement.VerifyAllSigned(env, at, signedBy...); err != nil {
		return nil, refuse(ErrPermission, "%v", err)
	}
	return next, nil
}
