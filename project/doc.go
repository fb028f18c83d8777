// Package project is berth's use-case layer: a Project is opened from a
// config file, a state directory and an engine, and each of its methods is
// one thing a person does with the containers berth manages. The CLI
// (internal/cli), the web server and the tests are adapters over it; none
// of them holds domain logic.
//
// The shape every use case follows:
//
//		p, err := project.Open(ctx, project.Options{ConfigFile: "berth.yaml"})
//		defer p.Close()
//		res, err := p.Up(ctx, project.UpOptions{Targets: []string{"ml"}, Events: sink})
//
//	  - It takes a context; cancelling it stops the work at the next step
//	    (an apply finishes or fails the operations it started, starts no new
//	    one, and leaves nothing the next run cannot see).
//	  - It takes an options struct; zero values are the CLI's defaults.
//	  - It reports progress as typed Events through the Events callback in
//	    its options (calls are serialised; nil discards them). It never
//	    prints and never exits.
//	  - It returns a typed result whose JSON form is what `berth … --json`
//	    prints, and errors a caller can branch on with errors.Is/As: the
//	    sentinels of this package and of runtime, state and config, and
//	    *Error, which carries a hint for people.
//
// Methods, one file each:
//
//	Open, FromConfig, Bare, Close, Config,
//	  StateDir, Engine, Desired             project.go (Connect: engine.go)
//	Plan, PlanOffline                       plan.go
//	Up                                      up.go (converge: run.go; images built on the way: autobuild.go)
//	Down, Start, Stop, Restart              lifecycle.go
//	Generations, Generation, Rollback       generations.go
//	Status                                  status.go
//	Logs                                    logs.go
//	Exec (Enter is Exec without a command)  exec.go
//	Images, ImageBuild, ImageLoad,
//	  ImagePush, ImageLock                  image.go
//	Secrets, SecretShow, SecretRotate       secrets.go
//	URLs                                    url.go
//	Doctor (the config's values or those
//	  given)                                doctor.go
//	GPUs                                    gpu.go
//	Service, RunningService                 service.go
//	Backup, Restore, Backups, BackupVerify,
//	  BackupPrune, BackupRepo               backup.go
//	SystemdGenerate                         systemd.go
//	Validate, HostProblems, GPUProblems     validate.go
//	Init, SeedForHost                       init.go
//	SkippedGPUs                             gpus.go
//	Psql                                    psql.go
//	OllamaModels, OllamaPull, OllamaCreate,
//	  OllamaChat, OllamaRemove              ollama.go
//	JupyterURL                              jupyter.go
//	Watch                                   watch.go
//	ProxyRoutes, ProxyConfig, ProxyReload   proxy.go
//	Volumes, VolumeRemove                   volume.go
//	GPUInventory                            gpu.go
//
// The cluster use cases (render, diff, apply, prune, status, bootstrap,
// load, logs, exec) are in package project/cluster, over a Project: this
// package must not link Kubernetes' modules into every program that uses
// it, the web server among them (internal/depcheck).
//
// An engine given in Options (runtime/fake in tests) is used as it is and
// never closed by the Project; otherwise the engine named by Options.Runtime
// or the config's runtime is connected on first use.
package project
