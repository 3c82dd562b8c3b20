package io.pulsarc.interop;

import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.pulsar.client.api.AuthenticationFactory;
import org.apache.pulsar.client.api.ClientBuilder;
import org.apache.pulsar.client.api.Consumer;
import org.apache.pulsar.client.api.ConsumerCryptoFailureAction;
import org.apache.pulsar.client.api.CryptoKeyReader;
import org.apache.pulsar.client.api.EncryptionKeyInfo;
import org.apache.pulsar.client.api.Message;
import org.apache.pulsar.client.api.PulsarClient;
import org.apache.pulsar.client.api.SubscriptionInitialPosition;
import org.apache.pulsar.common.api.EncryptionContext;

/**
 * The official Java consumer reading pulsarc's encrypted messages, for
 * tests/interop/encryption_interop.py. The private keys come from a
 * CryptoKeyReader by key name (PEM files); the Java client unwraps the
 * data key itself (RSA-OAEP, or BouncyCastle ECIES for an EC key) and
 * decrypts the payload. crypto_failure_action CONSUME, so a message it
 * could not decrypt still arrives (its bytes are then ciphertext, which
 * the script's comparison catches) instead of stalling the consumer.
 *
 * <pre>
 * DecryptingConsumer SERVICE_URL [--token-file F] [--key NAME=PEM_FILE]... TOPIC=COUNT...
 * </pre>
 *
 * --token-file: a JWT for a broker with token authentication on (a file,
 * so the token stays off the command line).
 *
 * One line of JSON per message on stdout: {"topic", "index", "data" (base64),
 * "keys": {name: wrapped length}}; then {"topic", "received"} per topic.
 * Each topic is read from the earliest message, waiting at most 30 s for
 * each one.
 */
public final class DecryptingConsumer {
  private DecryptingConsumer() {}

  /** Private keys by name; a name it does not hold gets no key. */
  static final class Keys implements CryptoKeyReader {
    final Map<String, byte[]> byName = new HashMap<>();

    @Override
    public EncryptionKeyInfo getPublicKey(String keyName, Map<String, String> metadata) {
      return null; // a consumer never wraps
    }

    @Override
    public EncryptionKeyInfo getPrivateKey(String keyName, Map<String, String> metadata) {
      byte[] pem = byName.get(keyName);
      return pem == null ? null : new EncryptionKeyInfo(pem, metadata);
    }
  }

  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println(
          "usage: DecryptingConsumer SERVICE_URL [--token-file F] [--key NAME=PEM]... TOPIC=COUNT...");
      System.exit(2);
    }
    Keys keys = new Keys();
    List<String> topics = new ArrayList<>();
    List<Integer> counts = new ArrayList<>();
    String token = null;
    for (int i = 1; i < args.length; i++) {
      if (args[i].equals("--token-file")) {
        token = new String(Files.readAllBytes(Paths.get(args[++i])), "UTF-8").trim();
      } else if (args[i].equals("--key")) {
        String[] kv = args[++i].split("=", 2);
        keys.byName.put(kv[0], Files.readAllBytes(Paths.get(kv[1])));
      } else {
        int eq = args[i].lastIndexOf('=');
        topics.add(args[i].substring(0, eq));
        counts.add(Integer.parseInt(args[i].substring(eq + 1)));
      }
    }
    int failures = 0;
    ClientBuilder builder =
        PulsarClient.builder().serviceUrl(args[0]).operationTimeout(30, TimeUnit.SECONDS);
    if (token != null) {
      builder.authentication(AuthenticationFactory.token(token));
    }
    try (PulsarClient client = builder.build()) {
      for (int t = 0; t < topics.size(); t++) {
        String topic = topics.get(t);
        int received = 0;
        try (Consumer<byte[]> c = client.newConsumer().topic(topic).subscriptionName("java-check")
            .subscriptionInitialPosition(SubscriptionInitialPosition.Earliest)
            .cryptoKeyReader(keys).cryptoFailureAction(ConsumerCryptoFailureAction.CONSUME)
            .subscribe()) {
          for (; received < counts.get(t); received++) {
            Message<byte[]> m = c.receive(30, TimeUnit.SECONDS);
            if (m == null) {
              break;
            }
            c.acknowledge(m);
            System.out.println(line(topic, received, m));
          }
        }
        System.out.println("{\"topic\":\"" + topic + "\",\"received\":" + received + "}");
        failures += received == counts.get(t) ? 0 : 1;
      }
    }
    System.out.flush();
    System.exit(failures == 0 ? 0 : 1);
  }

  static String line(String topic, int index, Message<byte[]> m) {
    StringBuilder s = new StringBuilder();
    s.append("{\"topic\":\"").append(topic).append("\",\"index\":").append(index)
        .append(",\"data\":\"").append(Base64.getEncoder().encodeToString(m.getData()))
        .append("\",\"keys\":{");
    EncryptionContext ctx = m.getEncryptionCtx().orElse(null);
    if (ctx != null && ctx.getKeys() != null) {
      String sep = "";
      for (Map.Entry<String, EncryptionContext.EncryptionKey> k : ctx.getKeys().entrySet()) {
        s.append(sep).append('"').append(k.getKey()).append("\":")
            .append(k.getValue().getKeyValue().length);
        sep = ",";
      }
    }
    return s.append("}}").toString();
  }
}
