package cli

import (
	"path/filepath"
	"runtime"
)

// defaultDataDir is where the agent keeps its data when --data is not given: the
// per-user data folder of the operating system, or /var/lib/aula-agent for a service
// running as root on Linux.
func defaultDataDir(getenv func(string) string) string {
	switch runtime.GOOS {
	case "windows":
		if d := getenv("LOCALAPPDATA"); d != "" {
			return filepath.Join(d, "Aula", "Agent")
		}
		return filepath.Join(getenv("ProgramData"), "Aula", "Agent")
	case "darwin":
		return filepath.Join(getenv("HOME"), "Library", "Application Support", "Aula Agent")
	}
	if d := getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "aula-agent")
	}
	if h := getenv("HOME"); h != "" && h != "/root" && h != "/" {
		return filepath.Join(h, ".local", "share", "aula-agent")
	}
	return "/var/lib/aula-agent"
}
