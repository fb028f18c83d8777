package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/voidnxlabs/berth/internal/testenv"
)

// The heavy services' tests: images too large to build in `make test`'s
// cold budget (pytorch-notebook: ~245 MB of Debian packages and ~70 MB of
// wheels, ~390 MB compressed). `make test-heavy` runs them; without
// BERTH_TEST_HEAVY=1 they skip, with CI=true too, since CI does not run
// that target.
//
// Their networks are 10.219.0.0/16, used by no other test (TestDemoStack
// has 10.217.0.0/16, backup's tests 10.218.0.0/16).
var heavySubnets = netip.MustParsePrefix("10.219.0.0/16")

func heavyTest(t *testing.T) {
	t.Helper()
	if os.Getenv("BERTH_TEST_HEAVY") != "1" {
		t.Skip("a heavy image build; run with `make test-heavy` (BERTH_TEST_HEAVY=1)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: data paths are made with the services' owners")
	}
}

const devMLTemplate = `project: {{project}}
containerPrefix: {{project}}-
runtime: docker
ml:
  enable: false
dev:
  network: { subnet: 10.219.2.0/24, host: 10.219.2.10 }
  dev-ml:
    image: {{pytorch-notebook}}
    workspacePath: {{data}}/workspace
    gpu: none
  chat-ui.enable: false
  code-server.enable: false
  postgres.enable: false
  proxy:
    image: {{caddy}}
    httpPort: {{http}}
    httpsPort: {{https}}
    dataPath: {{data}}/proxy
`

// trainCode is what the test runs in dev-ml's kernel: a tiny BERT
// classifier from transformers (a tokenizer from tokenizers, weights
// through safetensors), trained for 30 AdamW steps on random tokens whose
// label is the parity of the first token. It answers with the first and
// last loss, the versions, and whether the reloaded model predicts the
// same.
const trainCode = `
import json, os, tempfile, torch, transformers, tokenizers, safetensors, pandas, sklearn
from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast
torch.manual_seed(0)
tok = tokenizers.Tokenizer(tokenizers.models.WordLevel({"[UNK]": 0, **{f"w{i}": i for i in range(1, 64)}}, unk_token="[UNK]"))
tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
tok = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[UNK]")
texts = [" ".join(f"w{(7 * i + j * 3) % 63 + 1}" for j in range(10)) for i in range(16)]
batch = tok(texts, return_tensors="pt")
labels = batch["input_ids"][:, 0] % 2
model = BertForSequenceClassification(BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
    intermediate_size=64, max_position_embeddings=16, num_labels=2))
opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
losses = []
model.train()
for _ in range(30):
    out = model(**batch, labels=labels)
    out.loss.backward(); opt.step(); opt.zero_grad()
    losses.append(out.loss.item())
model.eval()
d = tempfile.mkdtemp(dir=os.getcwd())
model.save_pretrained(d)
again = BertForSequenceClassification.from_pretrained(d).eval()
with torch.no_grad():
    same = bool(torch.equal(model(**batch).logits.argmax(-1), again(**batch).logits.argmax(-1)))
json.dumps({"first": losses[0], "last": losses[-1], "same": same, "safetensors": os.path.exists(os.path.join(d, "model.safetensors")),
    "torch": torch.__version__, "transformers": transformers.__version__, "cuda": torch.cuda.is_available()})
`

// TestDevMLTraining brings up dev-ml (berth's pytorch-notebook image) and
// the proxy with the berth command, starts a kernel through the proxy with
// the generated token and trains a tiny transformers model in it: the
// loss must fall, and the model saved as safetensors must load back.
func TestDevMLTraining(t *testing.T) {
	heavyTest(t)
	eng := testenv.Docker(t)
	sweepStaleIn(t, eng, heavySubnets)
	s := newStackFrom(t, devMLTemplate, buildImages(t, eng, "pytorch-notebook", "caddy"))
	s.up()

	const host = "dev-ml.dev.localhost"
	token := strings.TrimSpace(s.must("secret", "show", "dev-ml-token"))
	if token == "" {
		t.Fatal("dev-ml-token is empty")
	}
	if resp, _ := s.viaProxy("GET", host, "/api/kernels", nil, nil); resp.StatusCode != 403 {
		t.Errorf("kernels without the token: %s, want 403", resp.Status)
	}
	auth := http.Header{"Authorization": {"token " + token}}
	resp, body := s.viaProxy("POST", host, "/api/kernels", auth, strings.NewReader(`{"name":"python3"}`))
	if resp.StatusCode != 201 {
		t.Fatalf("starting a kernel: %s %s", resp.Status, body)
	}
	var k struct{ ID string }
	json.Unmarshal(body, &k)
	ws, err := wsDial(fmt.Sprintf("127.0.0.1:%d", s.http), host, "/api/kernels/"+k.ID+"/channels?token="+url.QueryEscape(token), nil)
	if err != nil {
		t.Fatalf("kernel websocket through the proxy: %v", err)
	}
	defer ws.Close()
	start := time.Now()
	out := kernelEvalWithin(s, ws, trainCode, 5*time.Minute)
	t.Logf("training in the kernel: %s: %s", time.Since(start).Round(100*time.Millisecond), out)
	// The kernel's text/plain is the repr of a str: the JSON text (no
	// backslashes or single quotes in it) in single quotes.
	unq := strings.TrimSuffix(strings.TrimPrefix(out, "'"), "'")
	var r struct {
		First, Last         float64
		Same, Safetensors   bool
		Torch, Transformers string
	}
	if err := json.Unmarshal([]byte(unq), &r); err != nil {
		t.Fatalf("the kernel's answer %q: %v", out, err)
	}
	if !(r.Last < r.First/4) {
		t.Errorf("loss %.4f → %.4f: did not fall to a quarter in 30 steps", r.First, r.Last)
	}
	if !r.Same || !r.Safetensors {
		t.Errorf("saved model: safetensors file %v, same predictions after loading %v", r.Safetensors, r.Same)
	}
	if !strings.HasPrefix(r.Torch, "1.13") || !strings.HasPrefix(r.Transformers, "4.49") {
		t.Errorf("versions: torch %s, transformers %s; want Debian's 1.13 and the recipe's 4.49", r.Torch, r.Transformers)
	}
	// The work directory is the host's workspace: the saved model is there.
	entries, err := os.ReadDir(s.dir + "/data/workspace")
	if err != nil || len(entries) == 0 {
		t.Errorf("the workspace on the host holds nothing after save_pretrained: %v", err)
	}
}

const chatTemplate = `project: {{project}}
containerPrefix: {{project}}-
runtime: docker
ml:
  network: { subnet: 10.219.11.0/24, host: 10.219.11.10 }
  ollama:
    image: {{ollama}}
    modelsPath: {{data}}/ollama
    gpu: none
  jupyter.enable: false
  comfyui.enable: false
  vllm.enable: false
  localai.enable: false
dev:
  network: { subnet: 10.219.12.0/24, host: 10.219.12.10 }
  dev-ml.enable: false
  chat-ui:
    image: {{open-webui}}
    dataPath: {{data}}/chat-ui
  code-server.enable: false
  postgres.enable: false
  proxy:
    image: {{caddy}}
    httpPort: {{http}}
    httpsPort: {{https}}
    dataPath: {{data}}/proxy
`

// TestChatUI is the seed's ai stack on berth's images: Ollama with the
// tiny model, Open WebUI wired to it across the kits by the catalog
// alone, and the proxy. A user signs up, and gets an answer
// streamed from Ollama through Open WebUI's API and the proxy.
func TestChatUI(t *testing.T) {
	heavyTest(t)
	eng := testenv.Docker(t)
	sweepStaleIn(t, eng, heavySubnets)
	s := newStackFrom(t, chatTemplate, buildImages(t, eng, "ollama", "open-webui", "caddy"))
	s.up()
	s.must("ollama", "create", "tiny", s.gguf())

	const host = "chat-ui.dev.localhost"
	// The first account made is the administrator (WEBUI_AUTH is on).
	resp, body := s.viaProxy("POST", host, "/api/v1/auths/signup", http.Header{"Content-Type": {"application/json"}},
		strings.NewReader(`{"name":"Berth Test","email":"test@berth.localhost","password":"berth-e2e-password"}`))
	if resp.StatusCode != 200 {
		t.Fatalf("signing up: %s %s", resp.Status, body)
	}
	var user struct{ Token, Role string }
	if err := json.Unmarshal(body, &user); err != nil || user.Token == "" || user.Role != "admin" {
		t.Fatalf("signing up: %s (%v)", body, err)
	}
	auth := http.Header{"Authorization": {"Bearer " + user.Token}}
	if resp, _ := s.viaProxy("GET", host, "/api/models", nil, nil); resp.StatusCode != 401 && resp.StatusCode != 403 {
		t.Errorf("models without a session: %s, want 401 or 403", resp.Status)
	}
	// Wired to the stack's Ollama by the catalog: its models are listed.
	resp, body = s.viaProxy("GET", host, "/api/models", auth, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"tiny:latest"`) {
		t.Fatalf("Open WebUI's models lack Ollama's tiny:latest: %s %.500s", resp.Status, body)
	}
	// A streamed answer from Ollama through Open WebUI's API and the proxy.
	resp, body = s.viaProxy("POST", host, "/api/chat/completions", http.Header{"Authorization": auth["Authorization"], "Content-Type": {"application/json"}},
		strings.NewReader(`{"model":"tiny:latest","stream":true,"messages":[{"role":"user","content":"hello world"}]}`))
	if resp.StatusCode != 200 || !strings.Contains(string(body), "data: ") || !strings.Contains(string(body), `"content"`) {
		t.Fatalf("a streamed chat through Open WebUI's API: %s %.1000s", resp.Status, body)
	}
	t.Logf("streamed through the API: %d events", strings.Count(string(body), "data: "))
}
