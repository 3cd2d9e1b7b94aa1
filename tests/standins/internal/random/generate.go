// Package random is the stand-in for the `random` provider's RandomPassword and RandomBytes, with
// the semantics of @pulumi/random 4.21.2: a value is made once with crypto/rand, kept in the state,
// and made anew only when the resource is replaced, which any change of its inputs (keepers
// included) does.
package random

import (
	"crypto/rand"
	"errors"
	"math/big"
)

// The character classes of the real provider; special is its default list.
const (
	lowerChars   = "abcdefghijklmnopqrstuvwxyz"
	upperChars   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	numericChars = "0123456789"
	specialChars = "!@#$%&*()-_=+[]{}<>:?"
)

// charClass is one class of characters and how many of the result at least must come from it.
type charClass struct {
	chars string
	min   int
}

// randomString draws length characters: first each class's minimum from that class, the rest from
// all classes together, then shuffles so the minimums sit anywhere.
func randomString(length int, classes []charClass) (string, error) {
	var all []rune
	var out []rune
	for _, c := range classes {
		set := []rune(c.chars)
		all = append(all, set...)
		for i := 0; i < c.min; i++ {
			r, err := pick(set)
			if err != nil {
				return "", err
			}
			out = append(out, r)
		}
	}
	if len(all) == 0 {
		return "", errors.New("the character set is empty: enable at least one of upper, lower, numeric, special")
	}
	for len(out) < length {
		r, err := pick(all)
		if err != nil {
			return "", err
		}
		out = append(out, r)
	}
	// Fisher-Yates with crypto/rand.
	for i := len(out) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", err
		}
		out[i], out[j.Int64()] = out[j.Int64()], out[i]
	}
	return string(out), nil
}

func pick(set []rune) (rune, error) {
	i, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
	if err != nil {
		return 0, err
	}
	return set[i.Int64()], nil
}
