package agreement

// SetChainCacheSize sets the bound of the chain caches of agreements
// parsed from now on; the returned function restores it.
func SetChainCacheSize(n int) (restore func()) {
	old := chainCacheSize
	chainCacheSize = n
	return func() { chainCacheSize = old }
}

// CachedChains is the number of chain verifications cached.
func (a *Agreement) CachedChains() int { return a.verified.Len() }
