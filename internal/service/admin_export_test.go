package service

// BackupSlot is the one-backup-at-a-time semaphore, for tests.
var BackupSlot = backupSlot
