package ledger

// SetAuthorCacheSize sets the bound of the author caches of ledgers
// opened from now on; the returned function restores it.
func SetAuthorCacheSize(n int) (restore func()) {
	old := authorCacheSize
	authorCacheSize = n
	return func() { authorCacheSize = old }
}

// CachedAuthors is the number of peer-certificate identities cached.
func (l *Ledger) CachedAuthors() int { return l.authors.Len() }
