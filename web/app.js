// placeholder: the UI is being written
