package web

import "github.com/voidnxlabs/berth/state"

// TokenSecret is the name of the secret that holds serve's token in the
// project's state directory (mode 0600, like every secret).
const TokenSecret = "serve-token"

// Token returns serve's token, making it on first use: 24 random bytes,
// URL-safe.
func Token(sd *state.Dir) (string, error) {
	return sd.Secret(TokenSecret)
}
