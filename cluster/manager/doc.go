// Package manager assembles a swarmops manager from its parts: the data
// directory (node identity, certificates, cluster key), the shared TLS
// listener, the Raft node, the replicated store and the API server. It owns
// the lifecycle — init, join, restart from disk, clean shutdown — and
// nothing else: every decision about cluster objects lives in the store, the
// API server and the control loops.
package manager
