"""WebRTC, the browser's transport: an SDP offer at ``POST /v1/realtime/calls`` answered by a
peer (aiortc) whose ``oai-events`` data channel carries the events both ways and whose audio
tracks carry the speech, driving the same sans-I/O session a WebSocket drives.

- :mod:`~mock_server.webrtc.offer`: the HTTP side (the offer's forms, the mount's policy, the
  answer with its ``Location``); it imports nothing heavy, so WebSocket use pays nothing.
- :mod:`~mock_server.webrtc.call`: one call: its peer, its session's pump, its sidebands.
- :mod:`~mock_server.webrtc.media`: the tracks: the client's audio read into 24 kHz PCM16, and the
  reply's audio played in real time, 20 ms a frame.
"""
