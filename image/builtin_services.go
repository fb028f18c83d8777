package image

import (
	_ "embed"
	"fmt"

	"go.yaml.in/yaml/v3"
)

//go:embed builtin_services.yaml
var builtinServicesYAML []byte

// addServiceRecipes adds the recipes of the real services the demo runs
// (builtin_services.yaml) to the built-in set.
func addServiceRecipes(rs map[string]Recipe) {
	var doc yaml.Node
	if err := yaml.Unmarshal(builtinServicesYAML, &doc); err != nil {
		panic(fmt.Sprintf("image: built-in service recipes: %v", err))
	}
	more, err := DecodeRecipes(&doc)
	if err != nil {
		panic(fmt.Sprintf("image: built-in service recipes: %v", err))
	}
	for name, r := range more {
		if _, dup := rs[name]; dup {
			panic(fmt.Sprintf("image: built-in recipe %s is defined twice", name))
		}
		rs[name] = r
	}
}
