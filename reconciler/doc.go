// Package reconciler is the GitOps side of swarmops: it finds the stacks in
// a repository, plans what applying them would change, and (on the leader)
// keeps the cluster equal to what git says.
//
// Layout discovery is pure: it reads a file tree (an fs.FS, so a git
// checkout, a directory on disk and a test map look the same) and never
// talks to a cluster.
package reconciler
