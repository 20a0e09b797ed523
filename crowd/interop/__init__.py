"""Moving data between crowd and the labeling tools teams already use."""
