package keys

// SetTestHookBeforeRename sets the function that runs between the write of
// a temporary keyset file and its rename, for tests that stop a writer
// there; nil removes it.
func SetTestHookBeforeRename(f func(tmpPath string)) { testHookBeforeRename = f }
