package compose

import (
	"fmt"
	"os"
	"testing"
)

func TestTry(t *testing.T) {
	res, err := Import(t.Context(), ImportOptions{Files: []string{os.Getenv("F")}, Environ: os.Environ(), Config: t.TempDir() + "/berth.yaml"})
	if res != nil {
		fmt.Println(string(res.YAML))
		for _, n := range res.Notes {
			fmt.Println(n)
		}
		if res.State != nil {
			fmt.Println(res.State)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}
