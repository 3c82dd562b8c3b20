// Known-answer vectors for pulsarc's EC data-key wrapping, made by
// BouncyCastle itself: Cipher "ECIES" from the BC provider with
// IESParameterSpec(null, null, 128), exactly as the Pulsar Java client
// (MessageCryptoBc, 4.0.x, bcprov 1.78.1) wraps its data key for an EC key.
//
// Everything is deterministic (a SHA-256 counter stream stands in for
// SecureRandom), so the ephemeral key BC draws inside the cipher is known:
// the same stream fed to BC's ECKeyPairGenerator gives it, and the program
// checks that its public point is the one at the front of the ciphertext.
// tests/unit/test_crypto.cc (Crypto.EciesKnownAnswer*) holds the output.
//
// Run (bcprov from Maven Central, nothing committed but this file):
//   mvn -q dependency:get -Dartifact=org.bouncycastle:bcprov-jdk18on:1.78.1
//   BC=~/.m2/repository/org/bouncycastle/bcprov-jdk18on/1.78.1/bcprov-jdk18on-1.78.1.jar
//   javac -cp $BC -d /tmp/kat EciesKat.java && java -cp $BC:/tmp/kat EciesKat
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.security.Security;
import java.security.spec.ECGenParameterSpec;
import java.util.Arrays;
import javax.crypto.Cipher;
import org.bouncycastle.asn1.x9.ECNamedCurveTable;
import org.bouncycastle.asn1.x9.X9ECParameters;
import org.bouncycastle.crypto.AsymmetricCipherKeyPair;
import org.bouncycastle.crypto.generators.ECKeyPairGenerator;
import org.bouncycastle.crypto.params.ECDomainParameters;
import org.bouncycastle.crypto.params.ECKeyGenerationParameters;
import org.bouncycastle.crypto.params.ECPrivateKeyParameters;
import org.bouncycastle.crypto.params.ECPublicKeyParameters;
import org.bouncycastle.jce.interfaces.ECPrivateKey;
import org.bouncycastle.jce.interfaces.ECPublicKey;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.jce.spec.IESParameterSpec;

public class EciesKat {
  /** SHA-256(label || counter) blocks: a reproducible "random" source. */
  static final class Stream extends SecureRandom {
    private final byte[] label;
    private long counter;

    Stream(String label) {
      this.label = label.getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public synchronized void nextBytes(byte[] out) {
      try {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        for (int off = 0; off < out.length; off += 32) {
          md.update(label);
          md.update(BigInteger.valueOf(counter++).toByteArray());
          byte[] block = md.digest();
          System.arraycopy(block, 0, out, off, Math.min(32, out.length - off));
        }
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    }
  }

  static String hex(byte[] b) {
    StringBuilder s = new StringBuilder();
    for (byte x : b) {
      s.append(String.format("%02x", x));
    }
    return s.toString();
  }

  static byte[] fixed(BigInteger v, int len) {
    byte[] b = v.toByteArray();
    byte[] out = new byte[len];
    int n = Math.min(b.length, len);
    System.arraycopy(b, b.length - n, out, len - n, n);
    return out;
  }

  public static void main(String[] args) throws Exception {
    Security.addProvider(new BouncyCastleProvider());
    String[] curves = args.length > 0 ? args : new String[] {"secp256r1", "secp384r1",
        "secp521r1", "secp256k1"};
    for (String curve : curves) {
      KeyPairGenerator kpg = KeyPairGenerator.getInstance("EC", "BC");
      kpg.initialize(new ECGenParameterSpec(curve), new Stream("recipient/" + curve));
      KeyPair recipient = kpg.generateKeyPair();
      byte[] dataKey = new byte[32];
      new Stream("data-key/" + curve).nextBytes(dataKey);

      // What MessageCryptoBc does for an EC key (4.0.x).
      Cipher wrap = Cipher.getInstance("ECIES", "BC");
      wrap.init(Cipher.ENCRYPT_MODE, recipient.getPublic(), new IESParameterSpec(null, null, 128),
          new Stream("ephemeral/" + curve));
      byte[] wrapped = wrap.doFinal(dataKey);

      // The ephemeral key the cipher drew from the same stream.
      X9ECParameters x9 = ECNamedCurveTable.getByName(curve);
      ECDomainParameters dom = new ECDomainParameters(x9);
      ECKeyPairGenerator gen = new ECKeyPairGenerator();
      gen.init(new ECKeyGenerationParameters(dom, new Stream("ephemeral/" + curve)));
      AsymmetricCipherKeyPair eph = gen.generateKeyPair();
      byte[] ephPub = ((ECPublicKeyParameters) eph.getPublic()).getQ().getEncoded(false);
      if (!Arrays.equals(ephPub, Arrays.copyOf(wrapped, ephPub.length))) {
        throw new IllegalStateException(curve + ": ephemeral key not reproduced");
      }

      Cipher unwrap = Cipher.getInstance("ECIES", "BC");
      unwrap.init(Cipher.DECRYPT_MODE, recipient.getPrivate(), new IESParameterSpec(null, null, 128));
      if (!Arrays.equals(dataKey, unwrap.doFinal(wrapped))) {
        throw new IllegalStateException(curve + ": BC does not unwrap its own output");
      }

      int fe = (x9.getCurve().getFieldSize() + 7) / 8;
      int nlen = (x9.getN().bitLength() + 7) / 8;
      System.out.println("curve     " + curve);
      System.out.println("recip_d   " + hex(fixed(((ECPrivateKey) recipient.getPrivate()).getD(), nlen)));
      System.out.println("recip_q   " + hex(((ECPublicKey) recipient.getPublic()).getQ().getEncoded(false)));
      System.out.println("eph_d     " + hex(fixed(((ECPrivateKeyParameters) eph.getPrivate()).getD(), nlen)));
      System.out.println("data_key  " + hex(dataKey));
      System.out.println("wrapped   " + hex(wrapped) + "  (" + wrapped.length + " bytes, field "
          + fe + ")");
      System.out.println();
    }
  }
}
