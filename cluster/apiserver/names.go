package apiserver

import "strconv"

// Services created without a name get one, as Swarm gives them: two
// words joined by an underscore. The words are swarmops's own: weather
// and sea birds.
var (
	nameFirst = []string{
		"brisk", "calm", "clear", "cloudy", "crisp", "damp", "dewy", "drifting", "dry", "foggy",
		"frosty", "gentle", "gusty", "hazy", "humid", "icy", "misty", "mild", "rainy", "rising",
		"salty", "shifting", "silver", "sleety", "snowy", "stormy", "sunny", "swift", "tidal", "windy",
	}
	nameSecond = []string{
		"albatross", "auk", "booby", "cormorant", "curlew", "dunlin", "eider", "fulmar", "gannet", "godwit",
		"guillemot", "gull", "kittiwake", "knot", "merganser", "murre", "oystercatcher", "pelican", "petrel", "plover",
		"puffin", "razorbill", "sanderling", "scoter", "shag", "shearwater", "skua", "tern", "turnstone", "whimbrel",
	}
)

// randomName returns a name for an unnamed service: intn picks the words
// (rand.IntN; tests pass a fixed sequence), taken reports names in use,
// tried a few times before a numeric suffix settles it.
func randomName(intn func(int) int, taken func(string) bool) string {
	pick := func() string {
		return nameFirst[intn(len(nameFirst))] + "_" + nameSecond[intn(len(nameSecond))]
	}
	name := pick()
	for i := 0; i < 8 && taken(name); i++ {
		name = pick()
	}
	base := name
	for i := 2; taken(name); i++ {
		name = base + strconv.Itoa(i)
	}
	return name
}
