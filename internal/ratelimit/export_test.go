package ratelimit

// EntryCount returns how many keys m holds, expired or not.
func EntryCount(m *Memory) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}
