// Package dockertruth is the record of what `docker stack deploy` creates
// from each of the shared stack files (and swarmops's own small stacks in
// stackspec/testdata/stacks), and the comparison of swarmops's own
// conversion against it.
//
// It has three parts. Cases lists the shared stacks and stages each one,
// with its fixture files, into a directory where its relative paths
// resolve. Truth is one recorded deploy: the request bodies the docker CLI
// sent to the engine (the most precise account of Docker's conversion), what
// the engine then reported for the same objects, and the CLI's warnings or
// its error. Compare walks swarmops's StackSpec and a Truth side by side and
// returns every difference, with the deliberate ones named by the Deliberate
// table so that nothing is ignored silently; Check also holds a rejection of
// Docker's to swarmops's, unless the Relaxations table names it as one
// swarmops deliberately does not make.
//
// The e2e test records Truth files against a real engine; stackspec's
// compat test replays them offline. The package talks to no engine itself.
package dockertruth
