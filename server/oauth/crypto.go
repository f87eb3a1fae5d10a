package oauth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/store"
)

// tokenCrypto is the op.Crypto that makes op's opaque values Aula tokens instead of
// encrypted strings. op asks it for two things:
//
//   - an access token, as Encrypt("ID:SUBJECT"), where ID is what storage.issue returned:
//     the token itself, already stored as a hash. Encrypt hands it out as it is, and
//     Decrypt finds its row again (for revocation, userinfo and introspection).
//   - an authorization code, as Encrypt(REQUEST-ID): Encrypt makes a fresh random token,
//     which op then passes to SaveAuthCode, which stores its hash.
//
// So every secret the server issues is 256 random bits kept only as a hash, and nothing
// depends on a long-lived encryption key.
type tokenCrypto struct {
	tokens interface {
		ClientTokenByHash(ctx context.Context, hash []byte) (store.Token, string, error)
	}
	now func() time.Time
}

var _ op.Crypto = tokenCrypto{}

func (c tokenCrypto) Encrypt(s string) (string, error) {
	if tok, _, ok := strings.Cut(s, ":"); ok {
		if _, ok := auth.ParseToken(tok); ok {
			return tok, nil
		}
		return "", errors.New("not an access token")
	}
	code, _, err := auth.NewToken()
	return code, err
}

// Decrypt returns "ID:SUBJECT" of a live access token this server issued.
func (c tokenCrypto) Decrypt(s string) (string, error) {
	if _, ok := auth.ParseToken(s); !ok {
		return "", errors.New("not an access token")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t, clientID, err := c.tokens.ClientTokenByHash(ctx, auth.HashToken(s))
	if err != nil {
		return "", err
	}
	if clientID == "" || t.RevokedAt != nil || !c.now().Before(t.ExpiresAt) {
		return "", errors.New("access token expired or revoked")
	}
	sub := clientID
	if t.UserID != "" {
		sub = userSubject(t.TenantID, t.UserID)
	}
	return t.ID + ":" + sub, nil
}
