package service

import "context"

// BackupSlot is the one-backup-at-a-time semaphore, for tests.
var BackupSlot = backupSlot

// OnReadStarted has f called by each paged read once it holds its slots,
// until the returned function is called.
func OnReadStarted(f func(context.Context)) (restore func()) {
	readStarted.Store(&f)
	return func() { readStarted.Store(nil) }
}

// PartyReads is how many of party's paged reads are in progress or wait
// for a party slot.
func PartyReads(s *Service, party string) int { return s.reads.party.users(party) }

// IdentityReads is how many of the identity's paged reads are in progress
// or wait for an identity slot.
func IdentityReads(s *Service, uri string) int { return s.reads.identity.users(uri) }
