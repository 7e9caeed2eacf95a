// Dialtone from Java (11 or later), standard library only; runs as a single source file:
//
//     java CallVerify.java            # against http://127.0.0.1:8080 with the demo app
//
// 1. Signs a callVerify request with X-AKSK and sends it.
// 2. Receives the call's first status push on a local HTTP server and verifies its signature,
//    as your app server would.
//
// Environment: DIALTONE_URL, DIALTONE_APP_KEY, DIALTONE_APP_SECRET, DIALTONE_DISPLAY,
// DIALTONE_CALLEE (the demo app's values by default). Exits non-zero on any failure. The JSON
// here is read with two regular expressions to stay dependency-free; use your JSON library.

import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Base64;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

public class CallVerify {
    static String env(String name, String fallback) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? fallback : v;
    }

    static final String URL = env("DIALTONE_URL", "http://127.0.0.1:8080").replaceAll("/$", "");
    static final String APP_KEY = env("DIALTONE_APP_KEY", "k3VdT9wQx2LpR7mN4sB8cY1fHj6Z");
    static final String APP_SECRET = env("DIALTONE_APP_SECRET", "dT4xQ9pLm2vR8wYz");
    static final String DISPLAY = env("DIALTONE_DISPLAY", "+862087654321");
    static final String CALLEE = env("DIALTONE_CALLEE", "+8613900001234");

    static String hmacB64(String secret, String message) throws Exception {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
        return Base64.getEncoder().encodeToString(mac.doFinal(message.getBytes(StandardCharsets.UTF_8)));
    }

    /** The X-AKSK header of a signed request: PasswordDigest = Base64(HMAC-SHA256(secret, Nonce + Created)). */
    static String xAksk(String appKey, String appSecret, String nonce, String created) throws Exception {
        String digest = hmacB64(appSecret, nonce + created);
        return "UsernameToken Username=\"" + appKey + "\",PasswordDigest=\"" + digest
                + "\",Nonce=\"" + nonce + "\",Created=\"" + created + "\"";
    }

    static final String AUTHORIZATION = "AKSK realm=\"SDP\",profile=\"UsernameToken\",type=\"Appkey\"";

    /** The quoted attributes of an X-AKSK header. */
    static Map<String, String> parseXAksk(String value) {
        if (value == null || !value.startsWith("UsernameToken ")) {
            throw new IllegalArgumentException("not a UsernameToken header: " + value);
        }
        Map<String, String> attrs = new HashMap<>();
        Matcher m = Pattern.compile("(\\w+)=\"([^\"]*)\"").matcher(value);
        while (m.find()) attrs.putIfAbsent(m.group(1), m.group(2));
        return attrs;
    }

    /** A receiver's check: Base64(HMAC-SHA256(secret, url + "\n" + Nonce + "\n" + Created)), with url
     *  exactly as registered (the one in statusUrl/feeUrl), compared in constant time. */
    static boolean pushIsGenuine(String xAksk, String url, String appSecret) throws Exception {
        Map<String, String> a = parseXAksk(xAksk);
        String expected = hmacB64(appSecret, url + "\n" + a.get("Nonce") + "\n" + a.get("Created"));
        return MessageDigest.isEqual(expected.getBytes(StandardCharsets.UTF_8),
                a.getOrDefault("PasswordDigest", "").getBytes(StandardCharsets.UTF_8));
    }

    static void check(boolean ok, String what) {
        if (!ok) {
            System.err.println(what);
            System.exit(1);
        }
    }

    /** The worked examples of docs/api.md: a wrong implementation fails here, before any network. */
    static void knownAnswers() throws Exception {
        String h = xAksk(APP_KEY, "dT4xQ9pLm2vR8wYz", "9F2C4A7E1B3D4F6A8C0E2B4D6F8A1C3E", "2026-03-14T10:15:30Z");
        check(h.contains("PasswordDigest=\"j07xD3Yp3Ox91zNkEUX6HCtY5jdi6FpdMt+BFVpZMBE=\""), "request digest: " + h);
        String push = "UsernameToken Username=\"k3VdT9wQx2LpR7mN4sB8cY1fHj6Z\","
                + "PasswordDigest=\"zItAyarTuuM71HjKiIg83mp/M83GBbOjYz1tDLeJTKE=\","
                + "Nonce=\"5E0B7C2A9D4F41B8A3C6E1F07B2D9A64\",Created=\"2026-03-14T18:15:31Z\"";
        check(pushIsGenuine(push, "http://127.0.0.1:9000/voice/status", "dT4xQ9pLm2vR8wYz"), "push digest");
        check(!pushIsGenuine(push, "http://127.0.0.1:9000/voice/fee", "dT4xQ9pLm2vR8wYz"), "push digest, other url");
    }

    static String field(String json, String name) {
        Matcher m = Pattern.compile("\"" + name + "\"\\s*:\\s*\"([^\"]*)\"").matcher(json);
        return m.find() ? m.group(1) : null;
    }

    public static void main(String[] args) throws Exception {
        knownAnswers();
        CompletableFuture<String[]> firstPush = new CompletableFuture<>();
        HttpServer receiver = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        receiver.createContext("/", exchange -> {
            String body = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            String header = exchange.getRequestHeaders().getFirst("X-AKSK"); // case-insensitive
            exchange.sendResponseHeaders(200, -1);
            exchange.close();
            firstPush.complete(new String[] {header, body});
        });
        receiver.start();
        String statusUrl = "http://127.0.0.1:" + receiver.getAddress().getPort() + "/voice/status";

        String body = "{\"displayNbr\":\"" + DISPLAY + "\",\"calleeNbr\":\"" + CALLEE + "\","
                + "\"languageType\":2,\"preTone\":\"welcome.wav\",\"verifyCode\":\"4815\",\"times\":1,"
                + "\"statusUrl\":\"" + Base64.getEncoder().encodeToString(statusUrl.getBytes(StandardCharsets.UTF_8)) + "\"}";
        byte[] random = new byte[16];
        new SecureRandom().nextBytes(random);
        String nonce = HexFormat.of().withUpperCase().formatHex(random);
        String created = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss'Z'").withZone(ZoneOffset.UTC).format(Instant.now());
        HttpRequest request = HttpRequest.newBuilder(URI.create(URL + "/rest/httpsessions/callVerify/v1.0"))
                .header("Content-Type", "application/json;charset=UTF-8")
                .header("Authorization", AUTHORIZATION)
                .header("X-AKSK", xAksk(APP_KEY, APP_SECRET, nonce, created))
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build();
        HttpResponse<String> response = HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.ofString());
        String answer = response.body(); // errors are JSON too, with their HTTP status
        System.out.println("callVerify: " + answer);
        check("0".equals(field(answer, "resultcode")), "callVerify refused: " + answer);

        String[] push = firstPush.get(10, TimeUnit.SECONDS);
        System.out.println("push: " + field(push[1], "eventType") + " for " + field(push[1], "sessionId"));
        check(field(answer, "sessionId").equals(field(push[1], "sessionId")), "the push is about another call");
        check(pushIsGenuine(push[0], statusUrl, APP_SECRET), "push signature does NOT verify");
        System.out.println("push signature verified");
        receiver.stop(0);
    }
}
