package random

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/crypto/bcrypt"
)

// Type tokens of @pulumi/random 4.21.2.
const (
	PasswordToken = "random:index/randomPassword:RandomPassword"
	BytesToken    = "random:index/randomBytes:RandomBytes"
)

type fieldKind int

const (
	integerField fieldKind = iota
	boolField
	stringField
	mapField
)

type field struct {
	kind fieldKind
	// def is the value the real provider records when the input is absent (null: none).
	def resource.PropertyValue
}

// kind is one resource type: its inputs, their checks, and how a value is made.
type kind struct {
	fields   map[string]field
	validate func(eff resource.PropertyMap) []*pulumirpc.CheckFailure
	// generate makes the value; it returns the outputs to add to the inputs, and the ID.
	generate func(eff resource.PropertyMap) (resource.PropertyMap, string, error)
	// secrets are the generated outputs, always secret.
	secrets []string
}

var kinds = map[string]kind{
	PasswordToken: {
		fields: map[string]field{
			"length":          {kind: integerField},
			"keepers":         {kind: mapField},
			"lower":           {kind: boolField, def: resource.NewBoolProperty(true)},
			"upper":           {kind: boolField, def: resource.NewBoolProperty(true)},
			"numeric":         {kind: boolField, def: resource.NewBoolProperty(true)},
			"number":          {kind: boolField, def: resource.NewBoolProperty(true)},
			"special":         {kind: boolField, def: resource.NewBoolProperty(true)},
			"minLower":        {kind: integerField, def: resource.NewNumberProperty(0)},
			"minUpper":        {kind: integerField, def: resource.NewNumberProperty(0)},
			"minNumeric":      {kind: integerField, def: resource.NewNumberProperty(0)},
			"minSpecial":      {kind: integerField, def: resource.NewNumberProperty(0)},
			"overrideSpecial": {kind: stringField},
		},
		validate: validatePassword,
		generate: generatePassword,
		secrets:  []string{"result", "bcryptHash"},
	},
	BytesToken: {
		fields: map[string]field{
			"length":  {kind: integerField},
			"keepers": {kind: mapField},
		},
		validate: func(eff resource.PropertyMap) []*pulumirpc.CheckFailure {
			if n := intOf(eff["length"]); eff["length"].IsNumber() && n < 1 {
				return []*pulumirpc.CheckFailure{{Property: "length", Reason: "length must be at least 1"}}
			}
			return nil
		},
		generate: generateBytes,
		secrets:  []string{"base64", "hex"},
	},
}

func intOf(v resource.PropertyValue) int {
	if v.IsNumber() {
		return int(v.NumberValue())
	}
	return 0
}

func boolOf(v resource.PropertyValue) bool { return v.IsBool() && v.BoolValue() }

// plain drops secret markers (keepers may carry secrets; their values still count).
func plain(v resource.PropertyValue) resource.PropertyValue {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v
}

// effective is the inputs as the real provider records them: absent ones at their defaults, and
// the deprecated `number` and its successor `numeric` following each other when only one is set.
func (k kind) effective(props resource.PropertyMap) resource.PropertyMap {
	eff := resource.PropertyMap{}
	for name, f := range k.fields {
		key := resource.PropertyKey(name)
		if v, ok := props[key]; ok && !v.IsNull() {
			eff[key] = v
		} else if !f.def.IsNull() {
			eff[key] = f.def
		}
	}
	if _, hasNumber := k.fields["number"]; hasNumber {
		_, setNumber := props["number"]
		_, setNumeric := props["numeric"]
		if setNumber && !setNumeric {
			eff["numeric"] = props["number"]
		}
		if setNumeric && !setNumber {
			eff["number"] = props["numeric"]
		}
	}
	return eff
}

func (k kind) check(news resource.PropertyMap) []*pulumirpc.CheckFailure {
	var failures []*pulumirpc.CheckFailure
	fail := func(prop, format string, args ...any) {
		failures = append(failures, &pulumirpc.CheckFailure{Property: prop, Reason: fmt.Sprintf(format, args...)})
	}
	allKnown := true
	for key, v := range news {
		f, ok := k.fields[string(key)]
		if !ok {
			fail(string(key), "unknown property %q (the stand-in implements only what the program uses)", key)
			continue
		}
		p := plain(v)
		if p.IsComputed() || p.IsOutput() {
			allKnown = false
			continue
		}
		if p.IsNull() {
			continue
		}
		switch f.kind {
		case integerField:
			if !p.IsNumber() || p.NumberValue() != math.Trunc(p.NumberValue()) {
				fail(string(key), "%s must be an integer", key)
			}
		case boolField:
			if !p.IsBool() {
				fail(string(key), "%s must be a boolean", key)
			}
		case stringField:
			if !p.IsString() {
				fail(string(key), "%s must be a string", key)
			}
		case mapField:
			if !p.IsObject() {
				fail(string(key), "%s must be a map of strings", key)
				break
			}
			for mk, mv := range p.ObjectValue() {
				if mv = plain(mv); !mv.IsString() && !mv.IsComputed() && !mv.IsNull() {
					fail(fmt.Sprintf("%s.%s", key, mk), "keepers values must be strings")
				}
			}
		}
	}
	if v, ok := news["length"]; !ok || v.IsNull() {
		fail("length", "missing required property 'length'")
	}
	if len(failures) == 0 && allKnown {
		failures = append(failures, k.validate(k.effective(news))...)
	}
	return failures
}

func validatePassword(eff resource.PropertyMap) []*pulumirpc.CheckFailure {
	var failures []*pulumirpc.CheckFailure
	length := intOf(eff["length"])
	mins := intOf(eff["minLower"]) + intOf(eff["minUpper"]) + intOf(eff["minNumeric"]) + intOf(eff["minSpecial"])
	if length < 1 {
		failures = append(failures, &pulumirpc.CheckFailure{Property: "length", Reason: "length must be at least 1"})
	}
	if length < mins {
		failures = append(failures, &pulumirpc.CheckFailure{Property: "length",
			Reason: fmt.Sprintf("length (%d) must be at least the sum of minUpper, minLower, minNumeric and minSpecial (%d)", length, mins)})
	}
	if boolOf(eff["number"]) != boolOf(eff["numeric"]) {
		failures = append(failures, &pulumirpc.CheckFailure{Property: "numeric", Reason: "number and numeric must agree"})
	}
	if !boolOf(eff["upper"]) && !boolOf(eff["lower"]) && !boolOf(eff["numeric"]) && !boolOf(eff["special"]) {
		failures = append(failures, &pulumirpc.CheckFailure{Property: "upper",
			Reason: "at least one of upper, lower, numeric and special must be true"})
	}
	return failures
}

func generatePassword(eff resource.PropertyMap) (resource.PropertyMap, string, error) {
	special := specialChars
	if v := plain(eff["overrideSpecial"]); v.IsString() && v.StringValue() != "" {
		special = v.StringValue()
	}
	var classes []charClass
	add := func(enabled string, chars, min string) {
		if boolOf(eff[resource.PropertyKey(enabled)]) {
			classes = append(classes, charClass{chars: chars, min: intOf(eff[resource.PropertyKey(min)])})
		}
	}
	add("upper", upperChars, "minUpper")
	add("lower", lowerChars, "minLower")
	add("numeric", numericChars, "minNumeric")
	add("special", special, "minSpecial")
	result, err := randomString(intOf(eff["length"]), classes)
	if err != nil {
		return nil, "", err
	}
	// bcrypt reads at most 72 bytes, as the real provider hashes.
	toHash := []byte(result)
	if len(toHash) > 72 {
		toHash = toHash[:72]
	}
	hash, err := bcrypt.GenerateFromPassword(toHash, bcrypt.DefaultCost)
	if err != nil {
		return nil, "", err
	}
	return resource.PropertyMap{
		"result":     resource.NewStringProperty(result),
		"bcryptHash": resource.NewStringProperty(string(hash)),
	}, "none", nil
}

// generateBytes: the real provider's ID of a RandomBytes is its base64 value (a bridged resource
// needs an ID and an ID cannot be secret). The stand-in keeps that, so a test sees what the real
// one would put in the state in plain text.
func generateBytes(eff resource.PropertyMap) (resource.PropertyMap, string, error) {
	b := make([]byte, intOf(eff["length"]))
	if _, err := rand.Read(b); err != nil {
		return nil, "", err
	}
	b64 := base64.StdEncoding.EncodeToString(b)
	return resource.PropertyMap{
		"base64": resource.NewStringProperty(b64),
		"hex":    resource.NewStringProperty(hex.EncodeToString(b)),
	}, b64, nil
}
