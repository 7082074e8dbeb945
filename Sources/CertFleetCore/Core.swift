/// Pure domain: states, transitions, policies. No I/O.
public enum CertFleetCoreModule {}
