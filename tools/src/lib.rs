//! Shared code of pcgate's tools: a pcap/pcapng writer and packet builders.
