// Dialtone from Go, standard library only:
//
//	go run callverify.go            # against http://127.0.0.1:8080 with the demo app
//
//  1. Signs a callVerify request with X-AKSK and sends it.
//  2. Receives the call's first status push on a local HTTP server and verifies its signature,
//     as your app server would.
//
// Environment: DIALTONE_URL, DIALTONE_APP_KEY, DIALTONE_APP_SECRET, DIALTONE_DISPLAY,
// DIALTONE_CALLEE (the demo app's values by default). Exits non-zero on any failure.
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"
)

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

var (
	baseURL   = strings.TrimSuffix(env("DIALTONE_URL", "http://127.0.0.1:8080"), "/")
	appKey    = env("DIALTONE_APP_KEY", "k3VdT9wQx2LpR7mN4sB8cY1fHj6Z")
	appSecret = env("DIALTONE_APP_SECRET", "dT4xQ9pLm2vR8wYz")
	display   = env("DIALTONE_DISPLAY", "+862087654321")
	callee    = env("DIALTONE_CALLEE", "+8613900001234")
)

const authorization = `AKSK realm="SDP",profile="UsernameToken",type="Appkey"`

func hmacB64(secret, message string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(message))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// xAksk is the X-AKSK header of a signed request: PasswordDigest = Base64(HMAC-SHA256(secret, Nonce + Created)).
func xAksk(key, secret, nonce, created string) string {
	digest := hmacB64(secret, nonce+created)
	return fmt.Sprintf(`UsernameToken Username="%s",PasswordDigest="%s",Nonce="%s",Created="%s"`, key, digest, nonce, created)
}

var attribute = regexp.MustCompile(`(\w+)="([^"]*)"`)

// parseXAksk returns the quoted attributes of an X-AKSK header.
func parseXAksk(value string) (map[string]string, error) {
	if !strings.HasPrefix(value, "UsernameToken ") {
		return nil, fmt.Errorf("not a UsernameToken header: %q", value)
	}
	attrs := map[string]string{}
	for _, m := range attribute.FindAllStringSubmatch(value, -1) {
		if _, seen := attrs[m[1]]; !seen {
			attrs[m[1]] = m[2]
		}
	}
	return attrs, nil
}

// pushIsGenuine is a receiver's check: Base64(HMAC-SHA256(secret, url + "\n" + Nonce + "\n" + Created)),
// with url exactly as registered (the one in statusUrl/feeUrl), compared in constant time.
func pushIsGenuine(header, url, secret string) bool {
	a, err := parseXAksk(header)
	if err != nil {
		return false
	}
	expected := hmacB64(secret, url+"\n"+a["Nonce"]+"\n"+a["Created"])
	return hmac.Equal([]byte(expected), []byte(a["PasswordDigest"]))
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

// knownAnswers checks the worked examples of docs/api.md: a wrong implementation fails here, before any network.
func knownAnswers() {
	h := xAksk(appKey, "dT4xQ9pLm2vR8wYz", "9F2C4A7E1B3D4F6A8C0E2B4D6F8A1C3E", "2026-03-14T10:15:30Z")
	if !strings.Contains(h, `PasswordDigest="j07xD3Yp3Ox91zNkEUX6HCtY5jdi6FpdMt+BFVpZMBE="`) {
		fail("request digest: %s", h)
	}
	push := `UsernameToken Username="k3VdT9wQx2LpR7mN4sB8cY1fHj6Z",PasswordDigest="zItAyarTuuM71HjKiIg83mp/M83GBbOjYz1tDLeJTKE=",` +
		`Nonce="5E0B7C2A9D4F41B8A3C6E1F07B2D9A64",Created="2026-03-14T18:15:31Z"`
	if !pushIsGenuine(push, "http://127.0.0.1:9000/voice/status", "dT4xQ9pLm2vR8wYz") ||
		pushIsGenuine(push, "http://127.0.0.1:9000/voice/fee", "dT4xQ9pLm2vR8wYz") {
		fail("push digest")
	}
}

type received struct {
	header string
	body   []byte
}

func main() {
	knownAnswers()
	pushes := make(chan received, 16)
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("receiver: %v", err)
	}
	go http.Serve(listener, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusOK)
		pushes <- received{r.Header.Get("X-AKSK"), body}
	}))
	statusURL := fmt.Sprintf("http://%s/voice/status", listener.Addr())

	body, _ := json.Marshal(map[string]any{
		"displayNbr":   display,
		"calleeNbr":    callee,
		"languageType": 2,
		"preTone":      "welcome.wav",
		"verifyCode":   "4815",
		"times":        1,
		"statusUrl":    base64.StdEncoding.EncodeToString([]byte(statusURL)),
	})
	random := make([]byte, 16)
	if _, err := rand.Read(random); err != nil {
		fail("nonce: %v", err)
	}
	nonce := strings.ToUpper(fmt.Sprintf("%x", random))
	created := time.Now().UTC().Format("2006-01-02T15:04:05Z")
	req, _ := http.NewRequest("POST", baseURL+"/rest/httpsessions/callVerify/v1.0", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	req.Header.Set("Authorization", authorization)
	req.Header.Set("X-AKSK", xAksk(appKey, appSecret, nonce, created))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fail("callVerify: %v", err)
	}
	defer resp.Body.Close()
	var answer struct {
		Resultcode string `json:"resultcode"`
		Resultdesc string `json:"resultdesc"`
		SessionID  string `json:"sessionId"`
	}
	raw, _ := io.ReadAll(resp.Body) // errors are JSON too, with their HTTP status
	if err := json.Unmarshal(raw, &answer); err != nil {
		fail("callVerify answered %s: %s", resp.Status, raw)
	}
	fmt.Printf("callVerify: %s\n", raw)
	if answer.Resultcode != "0" {
		fail("callVerify refused: %s %s", answer.Resultcode, answer.Resultdesc)
	}

	select {
	case p := <-pushes:
		var push struct {
			EventType  string `json:"eventType"`
			StatusInfo struct {
				SessionID string `json:"sessionId"`
			} `json:"statusInfo"`
		}
		if err := json.Unmarshal(p.body, &push); err != nil {
			fail("push body: %v", err)
		}
		fmt.Printf("push: %s for %s\n", push.EventType, push.StatusInfo.SessionID)
		if push.StatusInfo.SessionID != answer.SessionID {
			fail("the push is about another call")
		}
		if !pushIsGenuine(p.header, statusURL, appSecret) {
			fail("push signature does NOT verify")
		}
		fmt.Println("push signature verified")
	case <-time.After(10 * time.Second):
		fail("no status push within 10 s")
	}
}
