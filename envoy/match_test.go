package envoy

import "testing"

// Envoy's header matching as Resolve applies it, on hand-made matchers.
func TestHeaderMatchSemantics(t *testing.T) {
	h := func(kind, value string) HeaderMatch { return HeaderMatch{Name: "user-agent", Kind: kind, Value: value} }
	cases := []struct {
		name    string
		m       HeaderMatch
		headers map[string]string
		want    bool
	}{
		{"regex is a full match", h("regex", "iPhone"), map[string]string{"user-agent": "Mozilla (iPhone)"}, false},
		{"regex spanning the value", h("regex", ".*iPhone.*"), map[string]string{"user-agent": "Mozilla (iPhone)"}, true},
		{"alternation stays anchored", h("regex", "a|b"), map[string]string{"user-agent": "ab"}, false},
		{"exact", h("exact", "jason"), map[string]string{"User-Agent": "jason"}, true},
		{"prefix", h("prefix", "Moz"), map[string]string{"user-agent": "Mozilla"}, true},
		{"absent header fails", h("exact", ""), nil, false},
		{"absent header fails even inverted", HeaderMatch{Name: "x", Kind: "exact", Value: "a", Invert: true}, nil, false},
		{"absent as empty", HeaderMatch{Name: "x", Kind: "exact", Value: "", MissingAsEmpty: true}, nil, true},
		{"inverted", HeaderMatch{Name: "x", Kind: "exact", Value: "a", Invert: true}, map[string]string{"x": "b"}, true},
		{"present", HeaderMatch{Name: "x", Kind: "present"}, map[string]string{"X": ""}, true},
		{"absent (inverted present)", HeaderMatch{Name: "x", Kind: "present", Invert: true}, nil, true},
		{"ignore case", HeaderMatch{Name: "x", Kind: "exact", Value: "Jason", IgnoreCase: true}, map[string]string{"x": "jASON"}, true},
	}
	for _, c := range cases {
		got, err := c.m.Matches(c.headers)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestFirstMatchingRouteWins(t *testing.T) {
	s := ServiceRoutes{Routes: []Route{
		{Name: "api", Path: PathMatch{"prefix", "/api"}},
		{Name: "exact", Path: PathMatch{"path", "/x"}},
		{Name: "all", Path: PathMatch{"prefix", "/"}},
	}}
	for path, want := range map[string]string{"/api/v1": "api", "/x": "exact", "/x?y=1": "exact", "/x/": "all", "": "all"} {
		i, err := s.Resolve(Request{Path: path})
		if err != nil || i < 0 || s.Routes[i].Name != want {
			t.Errorf("%q: got route %d (%v), want %s", path, i, err, want)
		}
	}
}
