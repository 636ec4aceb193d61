// Package raftnode runs a manager's Raft member: hashicorp/raft with its
// log and stable store in raft-boltdb (DATA/raft/raft.db), file snapshots
// (DATA/raft/snapshots, three kept), and a transport over mutual TLS that
// shares the manager's one port with the HTTP API, split by ALPN
// ("swarmops-raft" goes to Raft, everything else to HTTP).
//
// It owns consensus and nothing above it: entries are opaque bytes handed
// to an Applier (the store) with their index and the leader's append time;
// it never decodes them, never issues certificates (it takes tls.Configs)
// and never decides membership policy such as keeping a quorum.
package raftnode
