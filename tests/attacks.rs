//! Attacks through the gateway: forged tokens, brute force, injection strings, oversized and slow requests.
