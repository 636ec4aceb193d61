package manager

// Version is the swarmops version managers report as their engine version.
// Release builds set it with -ldflags "-X .../cluster/manager.Version=...".
var Version = "0.1.0-dev"
