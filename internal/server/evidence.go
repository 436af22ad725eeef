package server

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/mvm-exchange/mvm/internal/evidence"
	"github.com/mvm-exchange/mvm/internal/service"
)

// EvidenceConfig says where evidence files are kept (a directory, by
// default "evidence" beside the database, or an S3 bucket) and bounds them.
type EvidenceConfig struct {
	// Dir is the directory store (default: DB's directory/evidence).
	Dir string
	// S3 is a bucket URL, https://HOST:PORT/BUCKET (or http:// on a
	// trusted network); it replaces Dir. Credentials come from
	// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION.
	S3 string
	// Limits (the Store field is ignored).
	Limits service.EvidenceOptions
	// WrapStore, if set, stands between the service and the store opened
	// from Dir or S3, and returns what the service uses (tests make a
	// store end an upload early). nil: the store itself.
	WrapStore func(evidence.Store) evidence.Store
}

// openEvidence opens the evidence store cfg names.
func openEvidence(cfg Config) (evidence.Store, string, error) {
	if cfg.Evidence.S3 != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := evidence.NewS3(ctx, cfg.Evidence.S3)
		return s, cfg.Evidence.S3, err
	}
	dir := cfg.Evidence.Dir
	if dir == "" {
		dir = filepath.Join(filepath.Dir(cfg.DB), "evidence")
	}
	s, err := evidence.NewDir(dir)
	if err != nil {
		return nil, dir, fmt.Errorf("--evidence-dir %s: %w", dir, err)
	}
	return s, dir, nil
}
