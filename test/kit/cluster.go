package kit

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parley-voice/parley/test/natstest"
	"github.com/parley-voice/parley/test/pgtest"
	"github.com/parley-voice/parley/test/svctest"
)

// ClusterOptions shape a cluster started by Kit.StartCluster.
type ClusterOptions struct {
	// Nodes is the number of Parley nodes; default 3.
	Nodes int
	// App is every node's default number application, as Options.App.
	App *App
	// Env is set on every node on top of the cluster's variables (as Options.Env).
	Env map[string]string
	// Node, when set, adjusts the options of node i (from 0) just before it starts: an RTP
	// range or log file of its own, as a benchmark needs. o.Env already holds the cluster's
	// variables and Env.
	Node func(i int, o *Options)
}

// Cluster is several parley processes that share one PostgreSQL database and one nats-server,
// each with its own SIP, RTP and HTTP addresses, data directory and node id. Its nodes are
// ordinary Servers: phones call a chosen node with Phone.Call(t, c.Nodes[i], …) and REST
// requests go to the node they name.
type Cluster struct {
	Nodes       []*Server
	NodeIDs     []string // PARLEY_NODE_ID of each node, in the order of Nodes
	DatabaseURL string
	NATSURL     string
	nats        *natstest.Server
}

// StartCluster starts a nats-server of its own, a new database on the Kit's PostgreSQL server
// (started on the first cluster of the process) and the nodes, one after the other; the test's
// cleanup stops them all. Every node listens on fixed 127.0.0.1 ports chosen here, so a node
// that is restarted keeps its addresses. Without the PostgreSQL or nats-server package the test
// is skipped with the reason, except under CI (CI=true), where it fails.
func (k *Kit) StartCluster(t testing.TB, opts ClusterOptions) *Cluster {
	t.Helper()
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	pg, err := k.postgres()
	if err != nil {
		svctest.Missing(t, err, pgtest.ErrNotInstalled)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n := k.clusters.Add(1)
	dbURL, err := pg.CreateDatabase(ctx, fmt.Sprintf("parley_cluster_%d", n))
	if err != nil {
		t.Fatal(err)
	}
	ns, err := natstest.Start(ctx)
	if err != nil {
		svctest.Missing(t, err, natstest.ErrNotInstalled)
	}
	t.Cleanup(func() {
		if err := ns.Stop(); err != nil {
			t.Errorf("stopping nats-server: %v", err)
		}
	})
	c := &Cluster{DatabaseURL: dbURL, NATSURL: ns.URL(), nats: ns}
	for i := range opts.Nodes {
		id := fmt.Sprintf("node%d", i+1)
		env := map[string]string{
			"PARLEY_DATABASE_URL": dbURL,
			"PARLEY_NATS_URL":     ns.URL(),
			"PARLEY_NODE_ID":      id,
			"PARLEY_SIP_ADDR":     "127.0.0.1:" + strconv.Itoa(freeSIPPort(t)),
			"PARLEY_HTTP_ADDR":    "127.0.0.1:" + strconv.Itoa(freeSIPPort(t)),
		}
		for k, v := range opts.Env {
			env[k] = v
		}
		o := Options{App: opts.App, Env: env}
		if opts.Node != nil {
			opts.Node(i, &o)
		}
		c.Nodes = append(c.Nodes, k.Start(t, o))
		c.NodeIDs = append(c.NodeIDs, id)
	}
	return c
}

// Kill9 kills node i with SIGKILL, as a machine that dies would stop it, and waits for the
// process to be gone.
func (c *Cluster) Kill9(i int) { c.Nodes[i].Kill() }

// Restart starts node i again (killing it first if it still runs) with the same options, data
// directory and addresses.
func (c *Cluster) Restart(t testing.TB, i int) {
	t.Helper()
	c.Nodes[i].Restart()
}

// NATSPID is the process id of the cluster's nats-server.
func (c *Cluster) NATSPID() int { return c.nats.PID() }

// NATSLog is what the cluster's nats-server wrote so far, for failure messages.
func (c *Cluster) NATSLog() string { return c.nats.Log() }

// postgres is the PostgreSQL server of this Kit, started by the first call; Close stops it.
func (k *Kit) postgres() (*pgtest.Server, error) {
	k.pgOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		k.pg, k.pgErr = pgtest.Start(ctx)
	})
	return k.pg, k.pgErr
}

// stopPostgres stops the Kit's PostgreSQL server if one was started.
func (k *Kit) stopPostgres() error {
	if k.pg == nil {
		return nil
	}
	return k.pg.Stop()
}

// freeSIPPort is a 127.0.0.1 port that is free for both TCP and UDP now (SIP listens on both;
// the HTTP listener uses it for TCP only). Another process may take it before the node binds;
// the ports the kernel hands out are above the Kit's RTP ranges.
func freeSIPPort(t testing.TB) int {
	t.Helper()
	for range 20 {
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := tl.Addr().(*net.TCPAddr).Port
		ul, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		tl.Close()
		if err == nil {
			ul.Close()
			return port
		}
	}
	t.Fatal("no port free for both TCP and UDP on 127.0.0.1")
	return 0
}

// pgState is the Kit's PostgreSQL server, shared by the clusters of one test process.
type pgState struct {
	pgOnce sync.Once
	pg     *pgtest.Server
	pgErr  error
}
