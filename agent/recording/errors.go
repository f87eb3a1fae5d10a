package recording

import "errors"

var (
	// ErrDiskFull reports that the disk (or quota) filled up.
	ErrDiskFull = errors.New("disk full")
	// ErrLowDisk reports too little free space to start a recording.
	ErrLowDisk = errors.New("not enough free disk space")
	// ErrNotWritable reports a directory this user may not write.
	ErrNotWritable = errors.New("not writable")
	// ErrExists reports an output directory that already holds a recording.
	ErrExists = errors.New("already holds a recording")
	// ErrNoSources reports a recording with nothing to capture.
	ErrNoSources = errors.New("nothing to record")
	// ErrStopped reports use of a recorder after it stopped.
	ErrStopped = errors.New("recorder stopped")
)
