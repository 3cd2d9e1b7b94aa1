package envoy

import (
	"fmt"
	"regexp"
	"strings"
)

// Request is an HTTP request as a route sees it: a path and its headers.
type Request struct {
	Path    string
	Headers map[string]string
}

// Resolve picks the route Envoy would use for the request: the first route, in order, whose path
// and header conditions all hold. It returns the route's index, or -1 when no route matches.
func (s ServiceRoutes) Resolve(req Request) (int, error) {
	for i, r := range s.Routes {
		ok, err := r.Matches(req)
		if err != nil {
			return -1, fmt.Errorf("route %q: %w", r.Name, err)
		}
		if ok {
			return i, nil
		}
	}
	return -1, nil
}

// Matches reports whether the route's path and every header condition hold for the request.
func (r Route) Matches(req Request) (bool, error) {
	path := req.Path
	if path == "" {
		path = "/"
	}
	ok, err := r.Path.matches(path)
	if err != nil || !ok {
		return false, err
	}
	for _, h := range r.Headers {
		ok, err := h.Matches(req.Headers)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

func (p PathMatch) matches(path string) (bool, error) {
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	switch p.Kind {
	case "prefix":
		return strings.HasPrefix(path, p.Value), nil
	case "path":
		return path == p.Value, nil
	case "regex":
		return fullMatch(p.Value, path)
	case "separated-prefix":
		return path == p.Value || strings.HasPrefix(path, p.Value+"/"), nil
	}
	return false, fmt.Errorf("unsupported path match %q", p.Kind)
}

// Matches applies Envoy's header matching: header names are case-insensitive, safe_regex must match
// the whole value (RE2, which Go's regexp implements), invert_match flips the result; an absent
// header fails every condition except an inverted presence check, unless treated as empty.
func (h HeaderMatch) Matches(headers map[string]string) (bool, error) {
	value, present := lookup(headers, h.Name)
	if !present && h.Kind == "present" {
		return h.Invert, nil
	}
	if !present && !h.MissingAsEmpty {
		return false, nil
	}
	var ok bool
	v, want := value, h.Value
	if h.IgnoreCase {
		v, want = strings.ToLower(v), strings.ToLower(want)
	}
	switch h.Kind {
	case "present":
		ok = true
	case "exact":
		ok = v == want
	case "prefix":
		ok = strings.HasPrefix(v, want)
	case "suffix":
		ok = strings.HasSuffix(v, want)
	case "contains":
		ok = strings.Contains(v, want)
	case "regex":
		var err error
		if ok, err = fullMatch(h.Value, value); err != nil {
			return false, err
		}
	default:
		return false, fmt.Errorf("unsupported header match %q", h.Kind)
	}
	return ok != h.Invert, nil
}

func lookup(headers map[string]string, name string) (string, bool) {
	for k, v := range headers {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

func fullMatch(expr, s string) (bool, error) {
	re, err := regexp.Compile(`^(?:` + expr + `)$`)
	if err != nil {
		return false, fmt.Errorf("regex %q: %w", expr, err)
	}
	return re.MatchString(s), nil
}
