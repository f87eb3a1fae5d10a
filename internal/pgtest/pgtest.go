// Package pgtest starts throw-away PostgreSQL clusters for tests, so that code written for
// PostgreSQL is tested against the real server. Each call to Start gives a test its own
// empty database; a test binary whose TestMain calls Main shares one cluster among them.
//
// The cluster runs the server binaries found under /usr/lib/postgresql/*/bin (the Debian
// layout; `make setup` installs them), listens only on 127.0.0.1 on a free port with
// Unix sockets off, and trades durability for speed (fsync=off). When the tests run as
// root, the server runs as the postgres OS user, because PostgreSQL refuses root.
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// BinGlob is where Start looks for the PostgreSQL server binaries; the newest version wins.
const BinGlob = "/usr/lib/postgresql/*/bin"

// Role is the role the returned DSNs connect as. It owns its database but is neither a
// superuser nor exempt from row-level security, as a server's role should be.
const Role = "app"

// superuser is the cluster's bootstrap role, used only to create databases.
const superuser = "postgres"

// shared is the cluster Main makes every Start use. A package variable because Start
// receives nothing else from TestMain.
var shared struct {
	mu  sync.Mutex
	on  bool
	c   *cluster
	err error
}

// Start returns the DSN of a new, empty database that only this test uses. Under Main the
// database lives in the binary's shared cluster; otherwise Start starts a cluster for this
// test and stops it in tb.Cleanup. If the server binaries are missing, Start fails the test
// with "run make setup (installs postgresql)".
func Start(tb testing.TB) (dsn string) {
	tb.Helper()
	shared.mu.Lock()
	if shared.on {
		if shared.c == nil && shared.err == nil {
			shared.c, shared.err = start()
		}
		c, err := shared.c, shared.err
		shared.mu.Unlock()
		if err != nil {
			tb.Fatal(err)
		}
		return c.database(tb, true)
	}
	shared.mu.Unlock()
	c, err := start()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.stop)
	return c.database(tb, false)
}

// Main runs the tests of m with one cluster for the whole binary, started by the first
// Start, and stops it when the tests end. It returns m.Run's exit code:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
func Main(m *testing.M) int {
	shared.mu.Lock()
	shared.on = true
	shared.mu.Unlock()
	code := m.Run()
	shared.mu.Lock()
	c := shared.c
	shared.on, shared.c, shared.err = false, nil, nil
	shared.mu.Unlock()
	if c != nil {
		c.stop()
	}
	return code
}

// cluster is one running PostgreSQL server and the directory that holds it.
type cluster struct {
	dir  string // temporary, removed by stop
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when the server has exited
	seq  atomic.Int64  // numbers the databases
}

// findBinaries returns the newest bin directory matching pattern that holds initdb and
// postgres.
func findBinaries(pattern string) (string, error) {
	dirs, _ := filepath.Glob(pattern)
	dirs = slices.DeleteFunc(dirs, func(d string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if _, err := os.Stat(filepath.Join(d, b)); err != nil {
				return true
			}
		}
		return false
	})
	if len(dirs) == 0 {
		return "", fmt.Errorf("pgtest: no PostgreSQL server binaries in %s: run make setup (installs postgresql)", pattern)
	}
	version := func(d string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(a) - version(b) })
	return dirs[len(dirs)-1], nil
}

// owner returns the credential to run the server with: the postgres OS user when this
// process is root, else nil (run as ourselves).
func owner() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root needs the postgres OS user (%v): run make setup (installs postgresql)", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgtest: uid of postgres: %w", err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgtest: gid of postgres: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// start initialises a cluster in a new temporary directory and starts its server.
func start() (*cluster, error) {
	bin, err := findBinaries(BinGlob)
	if err != nil {
		return nil, err
	}
	cred, err := owner()
	if err != nil {
		return nil, err
	}
	// Not tb.TempDir: its parent is private to root, and the postgres user must reach it.
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgtest: %w", err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", superuser, "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	// A free port can be taken between our check and the server's bind; try another.
	for attempt := 1; ; attempt++ {
		c, err := run(bin, dir, data, cred)
		if err == nil {
			if err = c.createRole(); err == nil {
				return c, nil
			}
			c.stop()
			return nil, err
		}
		if attempt == 3 {
			os.RemoveAll(dir)
			return nil, err
		}
	}
}

// run starts the server on a free port and waits until it accepts connections.
func run(bin, dir, data string, cred *syscall.Credential) (*cluster, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "postgres.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port="+strconv.Itoa(port),
		"-c", "unix_socket_directories=",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=200")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Pdeathsig kills the server if this process dies without stopping it (a panic, a
	// test timeout); it fires when the thread that started the server ends, so that
	// thread stays locked to the goroutine that waits for the server.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	c := &cluster{dir: dir, port: port, cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		cmd.Wait()
		close(c.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("pgtest: start postgres: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-c.done:
			out, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("pgtest: postgres exited: %s\n%s", cmd.ProcessState, out)
		default:
		}
		conn, err := c.connect(superuser, "postgres")
		if err == nil {
			conn.Close(context.Background())
			return c, nil
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, fmt.Errorf("pgtest: postgres not ready after 30 s: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (c *cluster) dsn(role, db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", role, c.port, db)
}

func (c *cluster) connect(role, db string) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return pgx.Connect(ctx, c.dsn(role, db))
}

// admin runs statements as the superuser.
func (c *cluster) admin(stmts ...string) error {
	conn, err := c.connect(superuser, "postgres")
	if err != nil {
		return fmt.Errorf("pgtest: connect: %w", err)
	}
	defer conn.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("pgtest: %s: %w", s, err)
		}
	}
	return nil
}

func (c *cluster) createRole() error {
	return c.admin(`CREATE ROLE ` + Role + ` LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS`)
}

// database creates a database owned by Role, named after the test, and returns its DSN.
// In a shared cluster the database is dropped when the test ends.
func (c *cluster) database(tb testing.TB, drop bool) string {
	tb.Helper()
	name := databaseName(tb.Name(), c.seq.Add(1))
	ident := pgx.Identifier{name}.Sanitize()
	if err := c.admin(`CREATE DATABASE ` + ident + ` OWNER ` + Role); err != nil {
		tb.Fatal(err)
	}
	if drop {
		tb.Cleanup(func() {
			if err := c.admin(`DROP DATABASE ` + ident + ` WITH (FORCE)`); err != nil {
				tb.Error(err)
			}
		})
	}
	return c.dsn(Role, name)
}

// databaseName makes a database name from a test name, readable in the server's log.
func databaseName(test string, n int64) string {
	var b strings.Builder
	for _, r := range strings.ToLower(test) {
		if b.Len() >= 48 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return fmt.Sprintf("t%d_%s", n, b.String())
}

// stop stops the server at once, the way `pg_ctl stop -m immediate` does (SIGQUIT), and
// removes the cluster's directory.
func (c *cluster) stop() {
	if c.cmd.Process != nil {
		c.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			c.cmd.Process.Kill()
			<-c.done
		}
	}
	os.RemoveAll(c.dir)
}
